/**
 * The client role (`shoal`, or `lxc`): an lxc-style command line over the typed client.
 * @module
 */
import { Command, CommanderError } from "commander";
import { errorMessage } from "../../lib/util/mod.ts";
import { CliContext, type GlobalFlags } from "./context.ts";
import { type CommandGroup, groupsFor } from "./command_group.ts";
import { instanceForms, instanceGroups } from "./instance_commands.ts";
import { clusterCommand } from "./cluster.ts";
import { completionCommands } from "./completion.ts";
import { remoteCommand } from "./remote.ts";
import { projectCommand } from "./project.ts";
import { warningCommand } from "./warning.ts";
import {
  configCommand,
  infoCommand,
  monitorCommand,
  operationCommand,
  queryCommand,
  versionCommand,
} from "./server.ts";

/** Extra command modules registered by later layers (cluster, instances…). */
export type CommandModule = (ctx: CliContext) => Command;

const one = (f: (ctx: CliContext) => Command) => (ctx: CliContext) => [f(ctx)];

/** Every top-level command but completion's, in the order help lists them. */
export const groups: readonly CommandGroup[] = [
  { names: ["remote"], build: one(remoteCommand) },
  { names: ["info"], build: (ctx) => [infoCommand(ctx, instanceForms(ctx))] },
  { names: ["config"], build: (ctx) => [configCommand(ctx, instanceForms(ctx))] },
  { names: ["query"], build: one(queryCommand) },
  { names: ["operation"], build: one(operationCommand) },
  { names: ["monitor"], build: one(monitorCommand) },
  { names: ["version"], build: one(versionCommand) },
  { names: ["cluster"], build: one(clusterCommand) },
  { names: ["project"], build: one(projectCommand) },
  { names: ["warning"], build: one(warningCommand) },
  ...instanceGroups,
];

const extra: CommandModule[] = [];

/** Registers more top-level commands (each returns one commander Command), built with every group. */
export function registerCommands(...more: CommandModule[]): void {
  extra.push(...more);
}

/** Runs the client with argv (without the role); returns the exit code. */
export async function runClient(name: string, argv: string[]): Promise<number> {
  let ctx: CliContext;
  try {
    ctx = new CliContext(name);
  } catch (e) {
    console.error(`Error: ${errorMessage(e)}`);
    return 1;
  }
  const program = new Command(name)
    .description("Command line client for shoal (an LXD-compatible cluster)")
    .option("--project <name>", "Override the source project")
    .option("-q, --quiet", "Don't show progress information")
    .option("--debug", "Show all debug messages")
    .option("-v, --verbose", "Show all information messages")
    .option("--force-local", "Force using the local unix socket")
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(s.replace(/^error: /, "Error: ")) })
    .showSuggestionAfterError(true)
    // --project reaches every request of the command, wherever it stands on the line.
    .hook("preAction", (_p, action) => {
      const flags = action.optsWithGlobals() as GlobalFlags;
      ctx.project = flags.project;
      ctx.quiet = flags.quiet ?? false;
    });
  // Only the group the line names, if it names one (command_group.ts says why); else all.
  const chosen = groupsFor(argv, groups);
  for (const g of chosen.groups) for (const c of g.build(ctx)) program.addCommand(c);
  if (chosen.all) {
    for (const m of extra) program.addCommand(m(ctx));
    const [completion, hidden] = completionCommands(ctx, () => program);
    program.addCommand(completion!);
    program.addCommand(hidden!, { hidden: true });
  }
  // Let every sub-command accept the global options too, as lxc does.
  program.enablePositionalOptions(false);
  // addCommand() does not pass output settings down: every command reports as lxc does.
  const lxcStyle = (cmd: Command) => {
    cmd.exitOverride().configureOutput({
      outputError: (s, write) => write(s.replace(/^error: /, "Error: ")),
    });
    cmd.commands.forEach(lxcStyle);
  };
  lxcStyle(program);
  try {
    await program.parseAsync(argv, { from: "user" });
    // A command that ran to its end may still report a finding (cluster doctor).
    return typeof Deno.exitCode === "number" ? Deno.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help"
      ) return 0;
      return e.exitCode || 1;
    }
    console.error(`Error: ${errorMessage(e)}`);
    return 1;
  } finally {
    ctx.close();
  }
}
