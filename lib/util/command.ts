/** Running the system's tools (ip, nft, btrfs, mkfs…) and reading what they said. */

/** The output of a tool. */
export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

const decoder = new TextDecoder();

/** Runs cmd with args, stdin closed; never throws for a non-zero exit (a missing tool does throw). */
export async function runTool(cmd: string, args: string[], stdin?: string): Promise<ToolResult> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** The last non-empty line of a tool's output, for error messages. */
export function lastLine(s: string): string {
  const lines = s.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  return lines[lines.length - 1] ?? "";
}

/** Runs a tool and throws "WHAT: cmd args: its last words" when it fails. */
export async function mustRun(what: string, cmd: string, args: string[], stdin?: string): Promise<string> {
  const r = await runTool(cmd, args, stdin);
  if (r.code !== 0) {
    throw new Error(
      `${what}: ${cmd} ${args.join(" ")}: ${
        lastLine(r.stderr) || lastLine(r.stdout) || `exit status ${r.code}`
      }`,
    );
  }
  return r.stdout;
}

/** Whether a program is on PATH (or an executable path), for LXD's "Required tool ... is missing". */
export async function haveTool(cmd: string): Promise<boolean> {
  if (cmd.includes("/")) {
    try {
      return ((await Deno.stat(cmd)).mode ?? 0) & 0o111 ? true : false;
    } catch {
      return false;
    }
  }
  for (const dir of (Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    if (dir !== "" && await haveTool(`${dir}/${cmd}`)) return true;
  }
  // Debian keeps admin tools in sbin, which a user's PATH may lack.
  for (const dir of ["/usr/sbin", "/sbin"]) if (await haveTool(`${dir}/${cmd}`)) return true;
  return false;
}
