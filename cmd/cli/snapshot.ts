/**
 * `snapshot INSTANCE [NAME]` and `restore INSTANCE NAME` as lxc has them (`delete INSTANCE/NAME`
 * and the Snapshots table of `info` are with those commands).
 */
import { Command } from "commander";
import type { CliContext } from "./context.ts";
import { waitOp } from "./image.ts";

const path = (name: string) => `/1.0/instances/${encodeURIComponent(name)}`;

export function snapshotCommands(ctx: CliContext): Command[] {
  const snapshot = new Command("snapshot").description("Create instance snapshots")
    .argument("<instance>", "[remote:]instance")
    .argument("[name]", "Snapshot name (snapN when none is given)")
    .option("--stateful", "Whether or not to snapshot the instance's running state")
    .action(async (instance: string, name: string | undefined, o: { stateful?: boolean }) => {
      const p = ctx.parseRemote(instance);
      const c = await ctx.client(p.remote);
      const r = await c.request("POST", `${path(p.name)}/snapshots`, {
        body: { name: name ?? "", stateful: o.stateful === true },
      });
      await waitOp(c, r.operation);
    });
  const restore = new Command("restore").description("Restore instances from snapshots")
    .argument("<instance>", "[remote:]instance")
    .argument("<snapshot>", "Snapshot name")
    .action(async (instance: string, snap: string) => {
      const p = ctx.parseRemote(instance);
      const c = await ctx.client(p.remote);
      const r = await c.request("PUT", path(p.name), { body: { restore: `${p.name}/${snap}` } });
      await waitOp(c, r.operation);
    });
  return [snapshot, restore];
}
