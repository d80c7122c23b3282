/**
 * `shoal completion bash|zsh|fish`: a completion script for the shell. The script asks the
 * client itself (`shoal __complete WORDS…`) what may come next, so commands, sub-commands and
 * options come from the very command tree that parses them, and names come from the server:
 * members, instances, images, profiles, pools, networks, projects, operations, and remotes from
 * the client's own config.
 */
import { type Argument, Command } from "commander";
import type { CliContext } from "./context.ts";

/** What a positional argument names, by its name in the command tree. */
const KINDS: [RegExp, string][] = [
  [/^member/, "/1.0/cluster/members"],
  [/^instance|^sources$|^paths$/, "/1.0/instances"],
  [/^image/, "images"],
  [/^fingerprint/, "/1.0/images"],
  [/^alias$/, "/1.0/images/aliases"],
  [/^profile/, "/1.0/profiles"],
  [/^pool/, "/1.0/storage-pools"],
  [/^network/, "/1.0/networks"],
  [/^project/, "/1.0/projects"],
  [/^operation/, "/1.0/operations"],
  [/^remote$|^name-or-remote$/, "remotes"],
];

/** The argument at position i of a command (a variadic last one takes the rest). */
function argumentAt(cmd: Command, i: number): Argument | undefined {
  const args = cmd.registeredArguments;
  const last = args[args.length - 1];
  return args[i] ?? (last?.variadic ? last : undefined);
}

/** Names from the server (or the config) for one kind; nothing when it cannot be reached. */
async function names(ctx: CliContext, kind: string): Promise<string[]> {
  if (kind === "remotes") return Object.keys(ctx.config.remotes).map((r) => `${r}:`);
  const c = await ctx.client();
  const last = (urls: unknown) =>
    (Array.isArray(urls) ? urls : []).map((u) => decodeURIComponent(String(u).split("/").pop()!));
  if (kind === "images") {
    const aliases = last(await c.get("/1.0/images/aliases").catch(() => []));
    const fps = last(await c.get("/1.0/images").catch(() => [])).map((f) => f.slice(0, 12));
    return [...aliases, ...fps];
  }
  if (kind === "/1.0/operations") {
    const byStatus = await c.get<Record<string, string[]>>(kind).catch(() => ({}));
    return last(Object.values(byStatus ?? {}).flat());
  }
  return last(await c.get(kind).catch(() => []));
}

/** The candidates after words (the line without the program name and without the word being typed). */
export async function complete(program: Command, ctx: CliContext, words: string[]): Promise<string[]> {
  let cmd = program;
  let positional = 0;
  for (const w of words) {
    if (w === "" || w.startsWith("-")) continue;
    const sub = positional === 0
      ? cmd.commands.find((c) => c.name() === w || c.aliases().includes(w))
      : undefined;
    if (sub) {
      cmd = sub;
      continue;
    }
    positional++;
  }
  const out: string[] = [];
  if (positional === 0 && cmd.commands.length > 0) {
    for (const c of cmd.commands) if (!c.name().startsWith("_")) out.push(c.name());
  }
  const arg = argumentAt(cmd, positional);
  const kind = arg ? KINDS.find(([re]) => re.test(arg.name()))?.[1] : undefined;
  if (kind) {
    try {
      out.push(...await names(ctx, kind));
    } catch { /* no server: no names */ }
  }
  for (const o of cmd.options) if (o.long) out.push(o.long);
  return out;
}

function bash(name: string): string {
  return `# ${name} completion for bash: eval "$(${name} completion bash)"
_${name}_complete() {
  local cur=\${COMP_WORDS[COMP_CWORD]}
  local IFS=$'\\n'
  COMPREPLY=( $(compgen -W "$(${name} __complete -- "\${COMP_WORDS[@]:1:COMP_CWORD-1}" 2>/dev/null)" -- "$cur") )
}
complete -o default -F _${name}_complete ${name}
`;
}

function zsh(name: string): string {
  return `#compdef ${name}
# ${name} completion for zsh: eval "$(${name} completion zsh)"
_${name}_complete() {
  local -a candidates
  candidates=("\${(@f)$(${name} __complete -- "\${(@)words[2,CURRENT-1]}" 2>/dev/null)}")
  compadd -- "\${candidates[@]}"
}
compdef _${name}_complete ${name}
`;
}

function fish(name: string): string {
  return `# ${name} completion for fish: ${name} completion fish | source
complete -c ${name} -f -a '(${name} __complete -- (commandline -opc)[2..-1] 2>/dev/null)'
`;
}

const SHELLS: Record<string, (name: string) => string> = { bash, zsh, fish };

/** `completion SHELL` and the hidden `__complete WORDS…` it relies on. */
export function completionCommands(ctx: CliContext, program: () => Command): Command[] {
  const completion = new Command("completion")
    .description("Print a shell completion script (bash, zsh or fish)")
    .argument("<shell>", "bash, zsh or fish")
    .action((shell: string) => {
      const make = SHELLS[shell];
      if (!make) throw new Error(`Unsupported shell "${shell}": bash, zsh or fish`);
      ctx.println(make(ctx.name).trimEnd());
    });
  const hidden = new Command("__complete")
    .description("Candidates for the next word (used by the completion scripts)")
    .argument("[words...]")
    .allowUnknownOption(true)
    .helpOption(false)
    .action(async (words: string[]) => {
      for (const c of await complete(program(), ctx, words ?? [])) ctx.println(c);
    });
  return [completion, hidden];
}
