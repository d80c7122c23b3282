/**
 * Top-level commands in groups that say the names they answer to, so that a command line builds
 * only the group it names: commander's tree of every command, option and argument costs a
 * command ~5 ms of CPU to build (bench/cli.ts), and `shoal list` needs one branch of it. A line
 * whose first word is not a known name (help, an unknown command, a mistyped one, an option this
 * does not know) builds every group, so help, errors and suggestions see the whole tree as before.
 * @module
 */
import type { Command } from "commander";
import type { CliContext } from "./context.ts";

/** Top-level commands built together, and every name and alias they answer to. */
export interface CommandGroup {
  readonly names: readonly string[];
  build(ctx: CliContext): Command[];
}

/** The root's options that take a value (the next word, or after "="). */
const GLOBAL_WITH_VALUE = ["--project"];
/** The root's flags. */
const GLOBAL_FLAGS = new Set(["-q", "--quiet", "--debug", "-v", "--verbose", "--force-local"]);

/**
 * The first word of argv that names a command, after the root's own options as commander reads
 * them; undefined when another option comes first (help, version, "--", an unknown one).
 */
export function firstCommandWord(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (GLOBAL_WITH_VALUE.includes(a)) {
      i++;
      continue;
    }
    if (GLOBAL_WITH_VALUE.some((o) => a.startsWith(`${o}=`)) || GLOBAL_FLAGS.has(a)) continue;
    return a.startsWith("-") ? undefined : a;
  }
  return undefined;
}

/** The groups to build for argv: the one its command word names, else all of them. */
export function groupsFor(argv: readonly string[], groups: readonly CommandGroup[]): {
  groups: readonly CommandGroup[];
  all: boolean;
} {
  const word = firstCommandWord(argv);
  const named = word === undefined ? undefined : groups.find((g) => g.names.includes(word));
  return named ? { groups: [named], all: false } : { groups, all: true };
}
