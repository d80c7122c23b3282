/**
 * Registers the instance, image, storage, profile, exec and file commands, and gives the
 * server's `info` and `config` commands their instance forms (`info NAME`, `config get NAME KEY`),
 * as lxc has one command for both.
 */
import type { CommandGroup } from "./command_group.ts";
import type { CliContext } from "./context.ts";
import type { InstanceForms } from "./server.ts";
import { execCommand } from "./exec.ts";
import { fileCommand } from "./file.ts";
import { imageCommand } from "./image.ts";
import { instanceCommands, instanceConfig, instanceInfo } from "./instance.ts";
import { moveCommands } from "./instance_move.ts";
import { snapshotCommands } from "./snapshot.ts";
import { networkCommand } from "./network.ts";
import { profileCommand } from "./profile.ts";
import { storageCommand } from "./storage.ts";

/** The top-level commands of this layer, in groups by the names they answer to (command_group.ts). */
export const instanceGroups: readonly CommandGroup[] = [
  { names: ["image"], build: (ctx) => [imageCommand(ctx)] },
  { names: ["storage"], build: (ctx) => [storageCommand(ctx)] },
  { names: ["network"], build: (ctx) => [networkCommand(ctx)] },
  { names: ["profile"], build: (ctx) => [profileCommand(ctx)] },
  { names: ["exec"], build: (ctx) => [execCommand(ctx)] },
  { names: ["file"], build: (ctx) => [fileCommand(ctx)] },
  {
    names: ["init", "launch", "start", "stop", "restart", "pause", "delete", "rm", "list", "ls", "console"],
    build: instanceCommands,
  },
  { names: ["move", "mv", "rename", "copy", "cp"], build: moveCommands },
  { names: ["snapshot", "restore"], build: snapshotCommands },
];

const isRemote = (a: string) => a.endsWith(":");

/** The instance forms of the server's `info` and `config` (server.ts asks these first). */
export function instanceForms(ctx: CliContext): InstanceForms {
  return {
    async info(a, o) {
      if (a === undefined || isRemote(a)) return false;
      await instanceInfo(ctx, a, o.showLog === true);
      return true;
    },
    async config(verb, args) {
      const [first, ...rest] = args;
      if (!first || isRemote(first)) return false;
      if (verb === "show") {
        await instanceConfig(ctx, "show", first, []);
        return true;
      }
      if (verb === "set") {
        if (first.includes("=") || rest.length === 0) return false;
        if (!(rest.length === 2 || rest.every((r) => r.includes("=")))) return false;
        await instanceConfig(ctx, "set", first, rest);
        return true;
      }
      if (args.length !== 2) return false;
      await instanceConfig(ctx, verb, first, [rest[0]!]);
      return true;
    },
  };
}
