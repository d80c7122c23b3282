/**
 * Test harness for real daemons: each member is a real `bin/shoald` process with its own
 * $SHOAL_DIR (and 127.0.0.x address when it listens on the network).
 */
import { Client } from "../../lib/client/mod.ts";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
export const SHOALD = `${ROOT}/bin/shoald`;
export const SHOAL = `${ROOT}/bin/shoal`;

/** The output of a command. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program with env and optional stdin; never throws on a non-zero exit. */
export async function run(
  cmd: string,
  args: string[],
  o: { env?: Record<string, string>; stdin?: string; timeoutMs?: number } = {},
): Promise<Run> {
  const child = new Deno.Command(cmd, {
    args,
    env: { NO_COLOR: "1", ...(o.env ?? {}) },
    stdin: o.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (o.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(o.stdin));
    await w.close();
  }
  const timeoutMs = o.timeoutMs ?? 60_000;
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  // Its output ends when every holder of its pipes does: a process it started and left running
  // (the launcher's bundle build, say) outlives a SIGKILL of the program itself. Not forever.
  let late: ReturnType<typeof setTimeout> | undefined;
  const out = await Promise.race([
    child.output(),
    new Promise<null>((r) => late = setTimeout(() => r(null), timeoutMs + 10_000)),
  ]);
  clearTimeout(timer);
  clearTimeout(late);
  if (!out) {
    return {
      code: 137,
      stdout: "",
      stderr: `${cmd} ${args.join(" ")}: killed after ${timeoutMs} ms, and its output pipes stayed open ` +
        "10 s more (a process it started holds them)",
    };
  }
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** A program started in the background whose stdout is collected as it comes (monitors). */
export interface Background {
  readonly output: string;
  /** Stops it with SIGINT (as a user's Ctrl-C) and returns how it ended and its stderr. */
  stop(): Promise<{ status: Deno.CommandStatus; stderr: string }>;
}

/** Starts cmd in the background with env; see Background. */
export function spawnBackground(cmd: string, args: string[], env: Record<string, string>): Background {
  const child = new Deno.Command(cmd, {
    args,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const reading = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of child.stdout) out += dec.decode(chunk, { stream: true });
  })();
  const stderr = new Response(child.stderr).text();
  return {
    get output() {
      return out;
    },
    async stop() {
      try {
        child.kill("SIGINT");
      } catch { /* gone */ }
      const status = await child.status;
      await reading;
      return { status, stderr: await stderr };
    },
  };
}

/** Waits until cond() is true, polling, for at most timeoutMs; throws with what was last seen. */
export async function waitFor<T>(
  what: string,
  cond: () => Promise<T | false | null | undefined> | T | false | null | undefined,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<T> {
  const start = Date.now();
  const deadline = start + timeoutMs;
  // The last error and when it came: a stale one, from the first try, once read as the reason.
  let last: { e: unknown; at: number } | null = null;
  let tries = 0;
  let failedLast = false;
  for (;;) {
    tries++;
    try {
      const v = await cond();
      if (v) return v;
      failedLast = false;
    } catch (e) {
      last = { e, at: Date.now() - start };
      failedLast = true;
    }
    if (Date.now() > deadline) {
      const why = !last
        ? ""
        : failedLast
        ? `: ${last.e}`
        : ` (the last try found it not yet; the last error, ${last.at} ms in: ${last.e})`;
      throw new Error(`Timed out after ${timeoutMs} ms and ${tries} tries waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A running member. */
export class Member {
  readonly dir: string;
  readonly name: string;
  readonly extraEnv: Record<string, string>;
  /** An argv prefix the daemon runs under (a network namespace of tests/helpers/netns.ts). */
  readonly wrap: string[];
  process: Deno.ChildProcess | null = null;
  #stopAsked = false;

  readonly #debug: boolean;

  constructor(
    dir: string,
    name = "m",
    extraEnv: Record<string, string> = {},
    wrap: string[] = [],
    o: { debug?: boolean } = {},
  ) {
    this.dir = dir;
    this.name = name;
    this.extraEnv = extraEnv;
    this.wrap = wrap;
    // --debug by default: a failing test shows every request in the member's log. Benches set
    // SHOAL_BENCH=1, since debug records cost each request their formatting and fan-out; long
    // fault runs say debug: false, or their logs would fill the disk.
    this.#debug = o.debug ?? !Deno.env.get("SHOAL_BENCH");
  }

  get env(): Record<string, string> {
    return { ...this.extraEnv, SHOAL_DIR: this.dir, SHOAL_CONF: `${this.dir}.conf` };
  }

  get socket(): string {
    return `${this.dir}/unix.socket`;
  }

  /** Starts the daemon and waits until it is ready. */
  async start(extraArgs: string[] = []): Promise<this> {
    await Deno.mkdir(this.dir, { recursive: true });
    // exec all the way down: the pid we hold is the daemon's, so signals reach it.
    const [cmd, ...pre] = [...this.wrap, "sh"];
    this.process = new Deno.Command(cmd!, {
      args: [
        ...pre,
        "-c",
        `exec "$0" ${this.#debug ? "--debug" : ""} "$@" >>"${this.dir}.log" 2>&1`,
        SHOALD,
        ...extraArgs,
      ],
      env: this.env,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const proc = this.process;
    this.#stopAsked = false;
    // A daemon that dies on its own is a bug: say so with its last words, before the temp dir goes.
    void proc.status.then(async (st) => {
      // Code 0 too: a graceful stop nobody asked for means a signal came from outside the test.
      if (this.#stopAsked) return;
      const how = `code ${st.code}${st.signal ? `, ${st.signal}` : ""}`;
      console.error(
        `member ${this.name} (${this.dir}) exited by itself (${how}):\n${await this.logTail(40)}`,
      );
    });
    const r = await run(SHOALD, ["waitready", "--timeout", "30"], { env: this.env, timeoutMs: 35_000 });
    if (r.code !== 0) throw new Error(`member ${this.name} not ready: ${r.stderr}\n${await this.logTail()}`);
    return this;
  }

  /** The last lines of the member's log. */
  async logTail(lines = 20): Promise<string> {
    try {
      return (await Deno.readTextFile(`${this.dir}.log`)).split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }

  /** Runs `shoal ARGS` against this member. */
  shoal(args: string[], o: { stdin?: string; env?: Record<string, string> } = {}): Promise<Run> {
    return run(SHOAL, args, { env: { ...this.env, ...(o.env ?? {}) }, stdin: o.stdin });
  }

  /**
   * Runs `shoal ARGS` and fails the test unless it exits 0, naming the command, what it printed
   * and the member's last log lines: a CI log then says why, not just "1 !== 0".
   */
  async must(args: string[], o: { stdin?: string; env?: Record<string, string> } = {}): Promise<Run> {
    const r = await this.shoal(args, o);
    if (r.code !== 0) {
      throw new Error(
        `shoal ${
          args.join(" ")
        } exited ${r.code}:\n${r.stdout}${r.stderr}\n--- ${this.name}'s log:\n${await this
          .logTail(40)}`,
      );
    }
    return r;
  }

  /** Runs `shoald ARGS` (admin commands) against this member. */
  shoald(args: string[], o: { stdin?: string } = {}): Promise<Run> {
    return run(SHOALD, args, { env: this.env, stdin: o.stdin });
  }

  /** The environment of the real lxc client against this member's socket (LXD_DIR). */
  lxcEnv(conf = `${this.dir}.lxcconf`): Record<string, string> {
    return { LXD_DIR: this.dir, LXD_CONF: conf, HOME: this.dir };
  }

  /** Runs the real lxc client against this member's socket. */
  lxc(args: string[], o: { stdin?: string; conf?: string } = {}): Promise<Run> {
    return run("lxc", args, { env: this.lxcEnv(o.conf), stdin: o.stdin });
  }

  /** A typed client on the unix socket. */
  client(): Client {
    return new Client({ kind: "unix", path: this.socket });
  }

  /** Tells the helper that the daemon is about to exit on purpose (e.g. `shoald shutdown`). */
  expectExit(): void {
    this.#stopAsked = true;
  }

  /** Sends SIGKILL and waits for the process to go. */
  async kill(): Promise<void> {
    if (!this.process) return;
    this.#stopAsked = true;
    try {
      this.process.kill("SIGKILL");
    } catch { /* gone */ }
    await this.#reaped(this.process);
    this.process = null;
  }

  /** Stops gracefully (SIGTERM), killing after timeoutMs; returns the exit status. */
  async stop(timeoutMs = 20_000): Promise<Deno.CommandStatus | null> {
    if (!this.process) return null;
    const p = this.process;
    this.#stopAsked = true;
    try {
      p.kill("SIGTERM");
    } catch { /* gone */ }
    let killed = false;
    const t = setTimeout(() => {
      killed = true;
      try {
        p.kill("SIGKILL");
      } catch { /* gone */ }
    }, timeoutMs);
    const st = await Promise.race([
      p.status,
      new Promise<null>((r) => setTimeout(() => r(null), timeoutMs + 1_000)),
    ]);
    clearTimeout(t);
    this.process = null;
    return st ?? (killed ? await this.#reaped(p) : await p.status);
  }

  /**
   * Waits for a SIGKILLed process to end. One that outlives SIGKILL for long is stuck in the
   * kernel (state D: a sync write on a loaded disk, say) or a zombie its parent never reaped:
   * a test that only awaited it once hung with no word on which. Says so on stderr, with what
   * /proc tells of every thread (state, wait channel, syscall, kernel stack), then waits on:
   * the process holds the member's files until it ends.
   */
  async #reaped(p: Deno.ChildProcess, warnAfterMs = 15_000): Promise<Deno.CommandStatus> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<null>((r) => timer = setTimeout(() => r(null), warnAfterMs));
    const st = await Promise.race([p.status, late]);
    clearTimeout(timer);
    if (st) return st;
    console.error(
      `member ${this.name}: pid ${p.pid} still there ${warnAfterMs} ms after SIGKILL:\n${await procState(
        p.pid,
      )}`,
    );
    return await p.status;
  }
}

/** What /proc says of a process and each of its threads: why a process does not end. */
export async function procState(pid: number): Promise<string> {
  const read = (path: string) => Deno.readTextFile(path).then((t) => t.trim(), (e) => `(${e.message})`);
  const lines: string[] = [];
  let tids: string[] = [];
  try {
    for await (const e of Deno.readDir(`/proc/${pid}/task`)) tids.push(e.name);
  } catch (e) {
    return `  /proc/${pid}: ${(e as Error).message}`;
  }
  tids = tids.sort((a, b) => Number(a) - Number(b));
  for (const tid of tids) {
    const d = `/proc/${pid}/task/${tid}`;
    const stat = await read(`${d}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    lines.push(
      `  thread ${tid} (${name}) state ${state} wchan ${await read(`${d}/wchan`)} syscall ${await read(
        `${d}/syscall`,
      )}`,
    );
    if (state === "D" || tid === String(pid)) {
      for (const l of (await read(`${d}/stack`)).split("\n")) lines.push(`    ${l}`);
    }
  }
  return lines.join("\n");
}

/** A temporary directory for one test, removed with everything under it. */
export async function tempDir(
  prefix: string,
): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const path = await Deno.makeTempDir({ prefix: `shoal-${prefix}-` });
  await Deno.chmod(path, 0o755);
  return {
    path,
    async [Symbol.asyncDispose]() {
      await new Deno.Command("sh", {
        args: [
          "-c",
          `for m in $(awk -v d="${path}/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m"; done; rm -rf "${path}" "${path}".*`,
        ],
      }).output();
    },
  };
}
