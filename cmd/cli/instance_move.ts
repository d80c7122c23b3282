/**
 * `move` (`mv`), `rename` and `copy` (`cp`) as lxc has them, within one server or cluster: a
 * rename on the instance's member, a move to another member (--target), a copy anywhere in the
 * cluster. Moves and copies between different remotes are not supported.
 */
import { Command } from "commander";
import { StatusError } from "../../lib/util/mod.ts";
import type { CliContext } from "./context.ts";
import { waitOp } from "./image.ts";
import { keyValues } from "./storage.ts";

const path = (name: string) => `/1.0/instances/${encodeURIComponent(name)}`;

/** Both ends of a move or copy: one remote, the source and the destination names. */
function ends(
  ctx: CliContext,
  src: string,
  dst: string | undefined,
): { remote: string; from: string; to: string } {
  const s = ctx.parseRemote(src);
  const d = dst === undefined ? { remote: s.remote, name: "" } : ctx.parseRemote(dst);
  if (d.remote !== s.remote) {
    throw new Error(
      "Moving or copying between remotes is not supported: both ends must be one server or cluster",
    );
  }
  if (!s.name) throw new Error("You must specify a source instance name");
  return { remote: s.remote, from: s.name, to: d.name };
}

interface MoveOptions {
  target?: string;
  stateless?: boolean;
  instanceOnly?: boolean;
  config?: string[];
  profile?: string[];
  noProfiles?: boolean;
}

/** `move SRC DST` renames; `move SRC [DST] --target MEMBER` moves to another cluster member. */
async function move(ctx: CliContext, src: string, dst: string | undefined, o: MoveOptions): Promise<void> {
  const e = ends(ctx, src, dst);
  const c = await ctx.client(e.remote);
  if (!o.target) {
    if (o.config?.length || o.profile?.length || o.noProfiles) {
      throw new Error("Can't override configuration or profiles in local rename");
    }
    if (!e.to) throw new Error("Missing destination name: shoal move SOURCE DESTINATION, or --target MEMBER");
    const r = await c.request("POST", path(e.from), { body: { name: e.to } });
    await waitOp(c, r.operation);
    return;
  }
  if (o.instanceOnly) throw new Error("The --instance-only flag can't be used with --target");
  let r;
  try {
    r = await c.request("POST", `${path(e.from)}?target=${encodeURIComponent(o.target)}`, {
      body: { name: e.to || e.from, migration: true, live: !o.stateless },
    });
  } catch (err) {
    if (err instanceof StatusError) {
      throw new StatusError(err.status, `Migration API failure: ${err.message}`);
    }
    throw err;
  }
  await waitOp(c, r.operation);
}

/** `copy SRC DST [--target MEMBER]`: a new instance from another's config and root filesystem. */
async function copy(
  ctx: CliContext,
  src: string,
  dst: string | undefined,
  o: MoveOptions & { ephemeral?: boolean },
) {
  const e = ends(ctx, src, dst);
  if (!e.to) throw new Error("Missing destination name: shoal copy SOURCE DESTINATION");
  const c = await ctx.client(e.remote);
  const body = {
    name: e.to,
    config: keyValues(o.config ?? []),
    profiles: o.noProfiles ? [] : o.profile?.length ? o.profile : null,
    ephemeral: o.ephemeral === true,
    source: { type: "copy", source: e.from, instance_only: o.instanceOnly === true, live: !o.stateless },
  };
  const q = o.target ? `?target=${encodeURIComponent(o.target)}` : "";
  const r = await c.request("POST", `/1.0/instances${q}`, { body });
  await waitOp(c, r.operation);
}

/** The commands of this file. */
export function moveCommands(ctx: CliContext): Command[] {
  const moveCmd = new Command("move").alias("mv").description(
    "Move instances within or in between LXD servers",
  )
    .argument("<source>", "[remote:]instance").argument("[destination]", "[remote:][instance]")
    .option("--target <member>", "Cluster member name (@GROUP: the scheduler picks among the group)")
    .option("--stateless", "Copy a stateful instance stateless")
    .option("--instance-only", "Move the instance without its snapshots")
    .option("-c, --config <key=value...>", "Config key/value to apply to the target instance")
    .option("-p, --profile <profile...>", "Profile to apply to the target instance")
    .option("--no-profiles", "Unset all profiles on the target instance")
    .action(async (src: string, dst: string | undefined, o: MoveOptions & { profiles?: boolean }) => {
      await move(ctx, src, dst, { ...o, noProfiles: o.profiles === false });
    });
  const renameCmd = new Command("rename").description("Rename instances and snapshots")
    .argument("<instance>", "[remote:]instance").argument("<new-name>", "new name")
    .action(async (src: string, dst: string) => {
      await move(ctx, src, dst, {});
    });
  const copyCmd = new Command("copy").alias("cp").description(
    "Copy instances within or in between LXD servers",
  )
    .argument("<source>", "[remote:]instance").argument("[destination]", "[remote:]instance")
    .option("--target <member>", "Cluster member name (@GROUP: the scheduler picks among the group)")
    .option("--stateless", "Copy a stateful instance stateless")
    .option("--instance-only", "Copy the instance without its snapshots")
    .option("-e, --ephemeral", "Ephemeral instance")
    .option("-c, --config <key=value...>", "Config key/value to apply to the new instance")
    .option("-p, --profile <profile...>", "Profile to apply to the new instance")
    .option("--no-profiles", "Create the instance with no profiles applied")
    .action(
      async (
        src: string,
        dst: string | undefined,
        o: MoveOptions & { ephemeral?: boolean; profiles?: boolean },
      ) => {
        await copy(ctx, src, dst, { ...o, noProfiles: o.profiles === false });
      },
    );
  return [moveCmd, renameCmd, copyCmd];
}
