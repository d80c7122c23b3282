/**
 * Network namespaces that a test makes for itself: members or services each in a namespace of
 * their own, joined by veth pairs to a bridge that lives in a namespace of its own (the "wire"),
 * so that a test can cut, slow or filter traffic between them without touching the machine's
 * own network. Everything made through a NetnsSet is deleted by its dispose, also on failure.
 *
 * Addresses: the brief allows 127.0.0.x only. A namespace made with `localnet: true` keeps just
 * 127.0.0.1/32 on its loopback (instead of the whole 127.0.0.0/8, which would make every 127.x
 * address local) and sets route_localnet, so a 127.0.0.x address on its veth is routed over
 * the wire like any other. Measured to work on this kernel (TCP between two such namespaces).
 */

/** The output of a command run by this module. */
export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; with `check` (default) a non-zero exit throws with its stderr. */
export async function cmd(program: string, args: string[], o: { check?: boolean } = {}): Promise<CmdResult> {
  const out = await new Deno.Command(program, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const r = {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
  if ((o.check ?? true) && r.code !== 0) {
    throw new Error(`Failed running ${program} ${args.join(" ")}: ${r.stderr.trim() || `exit ${r.code}`}`);
  }
  return r;
}

/** `ip ARGS`, checked. */
export async function ip(...args: string[]): Promise<string> {
  return (await cmd("ip", args)).stdout;
}

/** The names of the network namespaces that exist now (`ip netns list`). */
export async function listNetns(): Promise<string[]> {
  const out = (await cmd("ip", ["netns", "list"], { check: false })).stdout;
  return out.split("\n").map((l) => l.trim().split(/\s+/)[0] ?? "").filter((n) => n !== "");
}

/** The argv that runs `program args` inside namespace `ns` (exec'd: the pid is the program's). */
export function inNetns(ns: string, program: string, args: string[] = []): string[] {
  return ["ip", "netns", "exec", ns, program, ...args];
}

/** Runs a command inside namespace `ns`. */
export function nsCmd(
  ns: string,
  program: string,
  args: string[],
  o: { check?: boolean } = {},
): Promise<CmdResult> {
  const argv = inNetns(ns, program, args);
  return cmd(argv[0]!, argv.slice(1), o);
}

/** A namespace prefix unique to this process: `PREFIX<pid>` (namespace names must stay short). */
export function uniquePrefix(prefix: string): string {
  return `${prefix}${Deno.pid}`;
}

/** Options of a new namespace. */
export interface NetnsOptions {
  /** Route 127.0.0.x over its interfaces (see the module doc). */
  localnet?: boolean;
}

/**
 * The namespaces, bridges and links one test made: `add`, `bridge`, `attach`, then `dispose`
 * (or `await using`) deletes every namespace it made, which takes their links with them.
 */
export class NetnsSet implements AsyncDisposable {
  readonly prefix: string;
  #made: string[] = [];

  /** prefix: unique to the run (uniquePrefix), so that runs side by side never collide. */
  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /** The full name of the namespace called `short` in this set. */
  name(short: string): string {
    return `${this.prefix}-${short}`;
  }

  /** Every namespace this set made and has not deleted. */
  get names(): readonly string[] {
    return this.#made;
  }

  /** Makes namespace `short` with its loopback up; returns its full name. */
  async add(short: string, o: NetnsOptions = {}): Promise<string> {
    const ns = this.name(short);
    await ip("netns", "add", ns);
    this.#made.push(ns);
    await ip("-n", ns, "link", "set", "lo", "up");
    if (o.localnet) {
      await ip("-n", ns, "addr", "del", "127.0.0.1/8", "dev", "lo");
      await ip("-n", ns, "addr", "add", "127.0.0.1/32", "dev", "lo");
      await nsCmd(ns, "sysctl", ["-qw", "net.ipv4.conf.all.route_localnet=1"]);
    }
    return ns;
  }

  /** Makes a bridge `bridge` (up) in namespace `ns`. */
  async bridge(ns: string, bridge: string): Promise<void> {
    await ip("-n", ns, "link", "add", bridge, "type", "bridge");
    await ip("-n", ns, "link", "set", bridge, "up");
  }

  /**
   * Joins namespace `ns` to `bridge` in `hubNs` with a veth pair: `ifname` inside `ns` (with
   * `cidr`, e.g. "127.0.0.11/24", when given) and `port` on the bridge.
   */
  async attach(
    o: { ns: string; ifname: string; hubNs: string; bridge: string; port: string; cidr?: string },
  ): Promise<void> {
    await ip("-n", o.ns, "link", "add", o.ifname, "type", "veth", "peer", "name", o.port, "netns", o.hubNs);
    await ip("-n", o.hubNs, "link", "set", o.port, "master", o.bridge);
    await ip("-n", o.hubNs, "link", "set", o.port, "up");
    await nsCmd(o.ns, "sysctl", ["-qw", `net.ipv4.conf.${o.ifname}.route_localnet=1`], { check: false });
    if (o.cidr) await ip("-n", o.ns, "addr", "add", o.cidr, "dev", o.ifname);
    await ip("-n", o.ns, "link", "set", o.ifname, "up");
  }

  /**
   * A star: namespace "hub" with bridge "hub", and one namespace per address, m1, m2, … (loopback
   * traffic routed), joined to it by eth0 (with the address, /24) and port p1, p2, … on the
   * bridge. Returns the hub's namespace; `p${i}` down on it cuts member i off.
   */
  async star(addresses: readonly string[]): Promise<string> {
    const hub = await this.add("hub");
    await this.bridge(hub, "hub");
    for (const [i, address] of addresses.entries()) {
      const ns = await this.add(`m${i + 1}`, { localnet: true });
      await this.attach({
        ns,
        ifname: "eth0",
        hubNs: hub,
        bridge: "hub",
        port: `p${i + 1}`,
        cidr: `${address}/24`,
      });
    }
    return hub;
  }

  /**
   * Stops (kill) every container of members whose daemons ran in this set's namespace of their
   * name: liblxc reaches a container only from the namespace it runs in.
   */
  async stopContainers(members: readonly { name: string; dir: string }[]): Promise<void> {
    for (const m of members) {
      try {
        for await (const e of Deno.readDir(`${m.dir}/containers`)) {
          await nsCmd(this.name(m.name), "lxc-stop", ["-P", `${m.dir}/containers`, "-n", e.name, "-k"], {
            check: false,
          });
        }
      } catch { /* none */ }
    }
  }

  /**
   * Kills what still runs in a namespace (a daemon's dnsmasq, liblxc's monitors): first their
   * descendants that live elsewhere (containers, so that their monitors clean up), then the
   * processes themselves. A namespace outlives its name while any process holds it.
   */
  async sweep(ns: string): Promise<void> {
    const inside = new Set(
      (await cmd("ip", ["netns", "pids", ns], { check: false })).stdout.split(/\s+/).filter((p) => p !== "")
        .map(Number),
    );
    if (inside.size === 0) return;
    const children = new Map<number, number[]>();
    for await (const e of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      try {
        const stat = await Deno.readTextFile(`/proc/${e.name}/stat`);
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        children.set(ppid, [...(children.get(ppid) ?? []), Number(e.name)]);
      } catch { /* gone */ }
    }
    const outside: number[] = [];
    const walk = (p: number) => {
      for (const c of children.get(p) ?? []) {
        if (!inside.has(c)) outside.push(c);
        walk(c);
      }
    };
    inside.forEach(walk);
    const kill = (p: number) => {
      try {
        Deno.kill(p, "SIGKILL");
      } catch { /* gone */ }
    };
    outside.forEach(kill);
    if (outside.length > 0) await new Promise((r) => setTimeout(r, 500));
    inside.forEach(kill);
    for (let i = 0; i < 50; i++) {
      if ((await cmd("ip", ["netns", "pids", ns], { check: false })).stdout.trim() === "") return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Deletes one namespace of this set, after killing what still runs in it (sweep). */
  async delete(ns: string): Promise<void> {
    await this.sweep(ns).catch(() => {});
    await cmd("ip", ["netns", "delete", ns], { check: false });
    this.#made = this.#made.filter((n) => n !== ns);
  }

  /** Deletes every namespace this set made. */
  async dispose(): Promise<void> {
    for (const ns of [...this.#made].reverse()) await this.delete(ns);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
