/**
 * The container driver: liblxc's command line tools with this member's own lxcpath. Every
 * liblxc call goes through here, so another driver could replace it behind the same shape.
 */

/** What liblxc reports of a container. */
export interface LxcState {
  state: "RUNNING" | "STOPPED" | "FROZEN" | "STARTING" | "STOPPING" | "ABORTING" | "FREEZING" | "THAWED";
  pid: number;
}

/** The output of a tool. */
interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

const decoder = new TextDecoder();

async function tool(cmd: string, args: string[]): Promise<ToolResult> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** The last meaningful line liblxc printed, for error messages. */
function lastLine(s: string): string {
  const lines = s.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  return lines[lines.length - 1] ?? "";
}

export class LxcDriver {
  constructor(readonly lxcpath: string) {}

  /** The directory of a container's config and logs. */
  dir(name: string): string {
    return `${this.lxcpath}/${name}`;
  }

  configPath(name: string): string {
    return `${this.dir(name)}/config`;
  }

  logPath(name: string): string {
    return `${this.dir(name)}/lxc.log`;
  }

  consolePath(name: string): string {
    return `${this.dir(name)}/console.log`;
  }

  /** A container's log files (lxc.log, console.log, recorded exec output), by name. */
  async logFiles(name: string): Promise<string[]> {
    const out: string[] = [];
    try {
      for await (const e of Deno.readDir(this.dir(name))) {
        if (e.isFile && e.name !== "config" && !e.name.endsWith(".tmp")) out.push(e.name);
      }
    } catch { /* never started */ }
    return out.sort();
  }

  /** Writes the container's liblxc config (before each start, from the expanded config). */
  async writeConfig(name: string, text: string): Promise<void> {
    await Deno.mkdir(this.dir(name), { recursive: true, mode: 0o711 });
    const tmp = `${this.configPath(name)}.tmp`;
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, this.configPath(name));
  }

  /** The container's state; STOPPED when liblxc does not know it. */
  async state(name: string): Promise<LxcState> {
    try {
      await Deno.stat(this.configPath(name));
    } catch {
      return { state: "STOPPED", pid: -1 };
    }
    const r = await tool("lxc-info", ["-P", this.lxcpath, "-n", name, "-s", "-p", "-H"]);
    const state = /State:\s+(\S+)/.exec(r.stdout)?.[1] ?? "STOPPED";
    const pid = Number(/PID:\s+(\d+)/.exec(r.stdout)?.[1] ?? -1);
    return { state: state as LxcState["state"], pid };
  }

  /**
   * The state of every container of this lxcpath from one `lxc-ls` (a list asks for all of them
   * at once: one tool run instead of one lxc-info each). A container lxc-ls does not name (no
   * config yet) is stopped.
   */
  async states(): Promise<Map<string, LxcState>> {
    const r = await tool("lxc-ls", ["-P", this.lxcpath, "--fancy", "-F", "NAME,STATE,PID"]);
    if (r.code !== 0) throw new Error(`lxc-ls failed: ${r.stderr.trim()}`);
    const out = new Map<string, LxcState>();
    for (const line of r.stdout.split("\n").slice(1)) {
      const [name, state, pid] = line.trim().split(/\s+/);
      if (!name || !state) continue;
      out.set(name, { state: state as LxcState["state"], pid: /^\d+$/.test(pid ?? "") ? Number(pid) : -1 });
    }
    return out;
  }

  /** Starts the container in the background and waits until it runs. */
  async start(name: string): Promise<void> {
    // Truncate the previous run's log so that errors shown are this start's.
    await Deno.writeTextFile(this.logPath(name), "").catch(() => {});
    const r = await tool("lxc-start", ["-P", this.lxcpath, "-n", name, "-d"]);
    if (r.code !== 0) {
      let log = "";
      try {
        log = lastLine(
          (await Deno.readTextFile(this.logPath(name))).split("\n").filter((l) => / ERROR /.test(l)).join(
            "\n",
          ),
        );
      } catch { /* no log */ }
      throw new Error(
        `Failed to run: lxc-start ${name}: ${lastLine(r.stderr) || "exit status " + r.code}${
          log ? ` (${log})` : ""
        }. Try \`shoal info --show-log ${name}\` for more info`,
      );
    }
    const w = await tool("lxc-wait", ["-P", this.lxcpath, "-n", name, "-s", "RUNNING", "-t", "30"]);
    if (w.code !== 0) throw new Error(`Container ${name} did not reach RUNNING: ${lastLine(w.stderr)}`);
  }

  /**
   * Stops the container: a clean shutdown (the halt signal to init) waiting up to timeout
   * seconds, or at once with force (SIGKILL).
   */
  async stop(name: string, o: { force: boolean; timeout: number }): Promise<void> {
    const args = ["-P", this.lxcpath, "-n", name];
    if (o.force) args.push("-k");
    else args.push("-t", String(o.timeout < 0 ? 600 : o.timeout));
    const r = await tool("lxc-stop", args);
    if (r.code !== 0) {
      const s = await this.state(name);
      if (s.state === "STOPPED") return;
      throw new Error(`Failed to stop ${name}: ${lastLine(r.stderr) || "exit status " + r.code}`);
    }
  }

  async freeze(name: string): Promise<void> {
    const r = await tool("lxc-freeze", ["-P", this.lxcpath, "-n", name]);
    if (r.code !== 0) throw new Error(`Failed to freeze ${name}: ${lastLine(r.stderr)}`);
  }

  async unfreeze(name: string): Promise<void> {
    const r = await tool("lxc-unfreeze", ["-P", this.lxcpath, "-n", name]);
    if (r.code !== 0) throw new Error(`Failed to unfreeze ${name}: ${lastLine(r.stderr)}`);
  }

  /** Sets a cgroup value of a running container (lxc-cgroup). */
  async setCgroup(name: string, key: string, value: string): Promise<void> {
    const r = await tool("lxc-cgroup", ["-P", this.lxcpath, "-n", name, key, value]);
    if (r.code !== 0) {
      throw new Error(`lxc-cgroup ${key}=${value}: ${lastLine(r.stderr) || "exit status " + r.code}`);
    }
  }

  /** Reads a cgroup value of a running container. */
  async getCgroup(name: string, key: string): Promise<string> {
    const r = await tool("lxc-cgroup", ["-P", this.lxcpath, "-n", name, key]);
    if (r.code !== 0) throw new Error(`lxc-cgroup ${key}: ${lastLine(r.stderr) || "exit status " + r.code}`);
    return r.stdout.trim();
  }

  /** Forgets a stopped container: its config and logs (the rootfs belongs to the pool). */
  async destroy(name: string): Promise<void> {
    await Deno.remove(this.dir(name), { recursive: true }).catch(() => {});
  }

  /** The argv of lxc-attach running command with exactly env (no host variables leak in). */
  attachArgs(name: string, command: string[], env: Record<string, string>, user = 0, group = 0): string[] {
    const args = ["-P", this.lxcpath, "-n", name, "--clear-env"];
    for (const [k, v] of Object.entries(env)) args.push("-v", `${k}=${v}`);
    if (user !== 0) args.push("-u", String(user));
    if (group !== 0) args.push("-g", String(group));
    args.push("--", ...command);
    return args;
  }
}

/** What a container's liblxc config is made from. */
export interface LxcConfigInput {
  name: string;
  rootfs: string;
  logFile: string;
  consoleFile: string;
  /** The expanded instance config (profiles applied). */
  config: Record<string, string>;
  cgroup: "v1" | "v2";
  /** lxc.net.* lines of the nics (nic.ts); an empty network namespace when absent. */
  network?: string[];
  /** lxc.mount.entry lines of disk devices other than root. */
  mounts?: string[];
  /** Lines of other concerns (security.ts: id map, seccomp, devices), before raw.lxc. */
  extra?: string[];
}

/** Memory sizes as LXD writes them (512MB, 1GiB, 80%) in bytes; null for percentages. */
export function parseMemory(v: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(B|kB|MB|GB|TB|KiB|MiB|GiB|TiB)?$/.exec(v.trim());
  if (!m) return null;
  const units: Record<string, number> = {
    B: 1,
    kB: 1e3,
    MB: 1e6,
    GB: 1e9,
    TB: 1e12,
    KiB: 1024,
    MiB: 1024 ** 2,
    GiB: 1024 ** 3,
    TiB: 1024 ** 4,
  };
  return Math.floor(Number(m[1]) * units[m[2] ?? "B"]!);
}

/** limits.cpu: a count ("2") pins the first N CPUs; a set ("0-1,3") pins those. */
export function cpuSet(v: string, cpus: number): string | null {
  if (/^\d+$/.test(v)) {
    const n = Math.min(Number(v), cpus);
    if (n < 1) return null;
    return n === 1 ? "0" : `0-${n - 1}`;
  }
  if (/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(v)) return v;
  return null;
}

/** Renders the liblxc config of a container. */
export function renderLxcConfig(i: LxcConfigInput): string {
  const lines = [
    "# Written by shoal from the instance's expanded config; rewritten at every start.",
    `lxc.uts.name = ${i.name}`,
    `lxc.rootfs.path = dir:${i.rootfs}`,
    ...(i.network ?? ["lxc.net.0.type = empty"]),
    "lxc.apparmor.profile = unconfined",
    "lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed",
    "lxc.autodev = 1",
    "lxc.pty.max = 1024",
    "lxc.tty.max = 0",
    "lxc.cap.drop = sys_time sys_module sys_rawio mac_admin mac_override",
    `lxc.log.file = ${i.logFile}`,
    "lxc.log.level = WARN",
    `lxc.console.logfile = ${i.consoleFile}`,
    "lxc.console.size = auto",
    ...(i.mounts ?? []),
  ];
  const mem = i.config["limits.memory"];
  if (mem) {
    const bytes = parseMemory(mem);
    if (bytes !== null) {
      lines.push(
        i.cgroup === "v2"
          ? `lxc.cgroup2.memory.max = ${bytes}`
          : `lxc.cgroup.memory.limit_in_bytes = ${bytes}`,
      );
    }
  }
  const cpu = i.config["limits.cpu"];
  if (cpu) {
    const set = cpuSet(cpu, navigator.hardwareConcurrency || 1);
    if (set !== null) {
      lines.push(i.cgroup === "v2" ? `lxc.cgroup2.cpuset.cpus = ${set}` : `lxc.cgroup.cpuset.cpus = ${set}`);
    }
  }
  for (const [k, v] of Object.entries(i.config)) {
    if (k.startsWith("environment.")) lines.push(`lxc.environment = ${k.slice(12)}=${v}`);
  }
  lines.push(...(i.extra ?? []));
  if (i.config["raw.lxc"]) lines.push(i.config["raw.lxc"]);
  return lines.join("\n") + "\n";
}

/** Which cgroup hierarchy holds the controllers here (v1 when /sys/fs/cgroup/memory exists). */
export function cgroupVersion(): "v1" | "v2" {
  try {
    Deno.statSync("/sys/fs/cgroup/memory");
    return "v1";
  } catch {
    return "v2";
  }
}
