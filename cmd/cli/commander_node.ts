/**
 * The few Node.js built-ins the commander package imports (node:events, child_process, path, fs,
 * process, util), as much of each as it uses, on Deno's own APIs. scripts/bundle builds the
 * launchers' commander from the package's ES module sources with its `node:` imports pointed here
 * (scripts/commander_copy.ts): loading Node's real modules is 30-40 ms of every command's start,
 * most of a `shoal list` (bench/cli.ts), for an event emitter, a write to stdout and an env lookup.
 * The sources (SHOAL_BUNDLE=0, `deno run main.ts`) use the package as it is.
 *
 * What commander uses and how each behaves as Node's does:
 * - EventEmitter: on, emit, listenerCount (option and help events, synchronous, in order);
 * - process: stdout/stderr write (synchronous, as Node's for files, pipes and terminals),
 *   isTTY, columns, hasColors; env; exit and exitCode (Deno's, which node:process shares);
 *   argv/execArgv/platform/versions (its default argv, unused: we pass argv "from user");
 * - path: resolve, dirname, basename, extname; fs: existsSync, realpathSync;
 * - child_process: spawn, only for stand-alone executable sub-commands, which we never declare;
 * - util: stripVTControlCharacters (help width and colour stripping).
 * @module
 */

import { writeAllSync } from "../../lib/util/output.ts";

type Listener = (...args: unknown[]) => void;

/** Node's EventEmitter as commander uses it (on, emit, listenerCount). */
export class EventEmitter {
  #listeners = new Map<string | symbol, Listener[]>();

  on(event: string | symbol, listener: Listener): this {
    const ls = this.#listeners.get(event);
    if (ls) ls.push(listener);
    else this.#listeners.set(event, [listener]);
    return this;
  }

  addListener(event: string | symbol, listener: Listener): this {
    return this.on(event, listener);
  }

  emit(event: string | symbol, ...args: unknown[]): boolean {
    const ls = this.#listeners.get(event);
    if (!ls || ls.length === 0) return false;
    for (const l of [...ls]) l.apply(this, args);
    return true;
  }

  listenerCount(event: string | symbol): number {
    return this.#listeners.get(event)?.length ?? 0;
  }
}

/** A stream of node:process (stdout, stderr) as commander uses it. */
function stream(f: typeof Deno.stdout | typeof Deno.stderr) {
  return {
    write: (s: string | Uint8Array) => (writeAllSync(f, s), true),
    get isTTY(): boolean {
      return f.isTerminal();
    },
    get columns(): number | undefined {
      try {
        return Deno.consoleSize().columns;
      } catch {
        return undefined;
      }
    },
    // Node's tty.WriteStream#hasColors: more than 2 colours unless the environment says none.
    hasColors(): boolean {
      const term = Deno.env.get("TERM");
      return !Deno.noColor && term !== "dumb";
    },
  };
}

/** node:process as commander uses it. */
export const process = {
  stdout: stream(Deno.stdout),
  stderr: stream(Deno.stderr),
  env: new Proxy({} as Record<string, string | undefined>, {
    get: (_t, k) => typeof k === "string" ? Deno.env.get(k) : undefined,
    has: (_t, k) => typeof k === "string" && Deno.env.get(k) !== undefined,
  }),
  exit(code?: number): never {
    Deno.exit(code ?? (typeof Deno.exitCode === "number" ? Deno.exitCode : 0));
  },
  get exitCode(): number | undefined {
    return Deno.exitCode || undefined;
  },
  set exitCode(c: number | undefined) {
    Deno.exitCode = c ?? 0;
  },
  argv: [Deno.execPath(), ...Deno.args],
  execArgv: [] as string[],
  execPath: Deno.execPath(),
  platform: Deno.build.os === "windows" ? "win32" : Deno.build.os,
  versions: {} as Record<string, string>,
  on(_signal: string, _listener: Listener): void {
    // Only for a spawned executable sub-command's signals (spawn below refuses those).
  },
};

/** node:path as commander uses it (POSIX). */
export const path = {
  dirname(p: string): string {
    const s = p.replace(/\/+$/, "");
    if (s === "") return p.startsWith("/") ? "/" : ".";
    const i = s.lastIndexOf("/");
    return i < 0 ? "." : s.slice(0, i).replace(/\/+$/, "") || "/";
  },
  basename(p: string, ext?: string): string {
    const b = p.replace(/\/+$/, "").split("/").pop() ?? "";
    return ext && b.endsWith(ext) && b !== ext ? b.slice(0, -ext.length) : b;
  },
  extname(p: string): string {
    const b = path.basename(p);
    const i = b.lastIndexOf(".");
    return i <= 0 ? "" : b.slice(i);
  },
  resolve(...ps: string[]): string {
    let r = "";
    for (const p of ps) r = p.startsWith("/") ? p : r ? `${r}/${p}` : p;
    if (!r.startsWith("/")) r = `${Deno.cwd()}/${r}`;
    const out: string[] = [];
    for (const seg of r.split("/")) {
      if (seg === "" || seg === ".") continue;
      if (seg === "..") out.pop();
      else out.push(seg);
    }
    return `/${out.join("/")}`;
  },
};

/** node:fs as commander uses it. */
export const fs = {
  existsSync(p: string): boolean {
    try {
      Deno.statSync(p);
      return true;
    } catch {
      return false;
    }
  },
  realpathSync(p: string): string {
    return Deno.realPathSync(p);
  },
};

/** node:child_process: commander spawns only stand-alone executable sub-commands, which shoal has none of. */
export const childProcess = {
  spawn(file: string): never {
    throw new Error(`executable sub-command ${file} is not supported by shoal's command line`);
  },
};

// The pattern of Node's util.stripVTControlCharacters (its internal ansi regular expression).
const ANSI = new RegExp(
  "[\\u001B\\u009B][[\\]()#;?]*" +
    "(?:(?:(?:(?:;[-a-zA-Z\\d\\/\\#&.:=?%@~_]+)*" +
    "|[a-zA-Z\\d]+(?:;[-a-zA-Z\\d\\/\\#&.:=?%@~_]*)*)?" +
    "(?:\\u0007|\\u001B\\u005C|\\u009C))" +
    "|(?:(?:\\d{1,4}(?:;\\d{0,4})*)?[\\dA-PR-TZcf-nq-uy=><~]))",
  "g",
);

/** node:util's stripVTControlCharacters. */
export function stripVTControlCharacters(s: string): string {
  return s.replace(ANSI, "");
}
