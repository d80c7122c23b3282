import { type Command, Option } from "commander";
import type { CliContext } from "./context.ts";

/**
 * `cluster evacuate|restore MEMBER` (LXD's, with the flags LXD 5.x added): --action forces
 * what happens to every instance (evacuate: stop, migrate, live-migrate; restore: skip, the
 * state only), --force asks nothing and evacuates even when the database would lose its quorum,
 * --yes only asks nothing.
 */
export function addClusterEvacuateCommands(cl: Command, ctx: CliContext): void {
  for (const action of ["evacuate", "restore"] as const) {
    const cmd = cl.command(action).argument("<member>", "[<remote>:]<member>")
      .description(action === "evacuate" ? "Evacuate cluster member" : "Restore cluster member")
      .addOption(
        new Option("--action <action>", `Force a particular instance ${action} action`).choices(
          action === "evacuate" ? ["stop", "migrate", "live-migrate"] : ["skip"],
        ),
      )
      .option(
        "--force",
        action === "evacuate"
          ? "Force evacuation without user confirmation, even if the database would lose its quorum"
          : "Force restoration without user confirmation",
      )
      .option("--yes", "Do not require user confirmation");
    if (action === "evacuate") cmd.alias("evac");
    cmd.action(async (arg: string, o: { action?: string; force?: boolean; yes?: boolean }) => {
      const { remote, name } = ctx.parseRemote(arg);
      if (name === "") throw new Error("Missing cluster member name");
      if (!o.force && !o.yes) {
        const answer = await ctx.ask(
          `Are you sure you want to ${action} cluster member "${name}"? (yes/no) [default=no]: `,
        );
        if (!["yes", "y"].includes(answer.trim().toLowerCase())) return;
      }
      const c = await ctx.client(remote);
      try {
        await c.runOperation("POST", `/1.0/cluster/members/${encodeURIComponent(name)}/state`, {
          body: {
            action,
            mode: o.action ?? "",
            ...(action === "evacuate" && o.force ? { force: true } : {}),
          },
        });
      } catch (e) {
        throw new Error(`Failed to update cluster member state: ${e instanceof Error ? e.message : e}`);
      }
    });
  }
}
