/**
 * Registers the instance, image, storage, profile, exec and file commands, and teaches the
 * server's `info` and `config` commands their instance forms (`info NAME`, `config get NAME KEY`),
 * as lxc has one command for both.
 */
import type { Command } from "commander";
import type { CliContext } from "./context.ts";
import { execCommand } from "./exec.ts";
import { fileCommand } from "./file.ts";
import { imageCommand } from "./image.ts";
import { instanceCommands, instanceConfig, instanceInfo } from "./instance.ts";
import { moveCommands } from "./instance_move.ts";
import { networkCommand } from "./network.ts";
import { profileCommand } from "./profile.ts";
import { storageCommand } from "./storage.ts";

/** The top-level commands of this layer. */
export function instanceCommandsFor(ctx: CliContext): Command[] {
  return [
    imageCommand(ctx),
    storageCommand(ctx),
    networkCommand(ctx),
    profileCommand(ctx),
    execCommand(ctx),
    fileCommand(ctx),
    ...instanceCommands(ctx),
    ...moveCommands(ctx),
  ];
}

type Handler = (args: unknown[]) => unknown;

/** Runs pre first; when it handled the call, the original action does not run. */
function intercept(cmd: Command, pre: (args: unknown[], cmd: Command) => Promise<boolean>): void {
  const c = cmd as unknown as { _actionHandler: Handler | null };
  const inner = c._actionHandler;
  c._actionHandler = async (args: unknown[]) => {
    if (await pre(args, cmd)) return;
    return inner?.(args);
  };
}

const isRemote = (a: string) => a.endsWith(":");

/** Adds the instance forms to `info` and `config get|set|unset|show`. */
export function extendServerCommands(program: Command, ctx: CliContext): void {
  const find = (parent: Command, name: string) => parent.commands.find((c) => c.name() === name);
  const info = find(program, "info");
  if (info) {
    info.option("--show-log", "Show the instance's last 100 log lines");
    intercept(info, async (args, cmd) => {
      const a = args[0] as string | undefined;
      if (a === undefined || isRemote(a)) return false;
      await instanceInfo(ctx, a, cmd.opts().showLog === true);
      return true;
    });
  }
  const config = find(program, "config");
  if (!config) return;
  for (const verb of ["get", "unset"] as const) {
    const sub = find(config, verb);
    if (!sub) continue;
    intercept(sub, async (args) => {
      const list = args[0] as string[];
      if (list.length !== 2 || isRemote(list[0]!)) return false;
      await instanceConfig(ctx, verb, list[0]!, [list[1]!]);
      return true;
    });
  }
  const set = find(config, "set");
  if (set) {
    intercept(set, async (args) => {
      const list = args[0] as string[];
      const [first, ...rest] = list;
      if (!first || first.includes("=") || isRemote(first) || rest.length === 0) return false;
      if (!(rest.length === 2 || rest.every((r) => r.includes("=")))) return false;
      await instanceConfig(ctx, "set", first, rest);
      return true;
    });
  }
  const show = find(config, "show");
  if (show) {
    intercept(show, async (args) => {
      const a = args[0] as string | undefined;
      if (a === undefined || isRemote(a)) return false;
      await instanceConfig(ctx, "show", a, []);
      return true;
    });
  }
}
