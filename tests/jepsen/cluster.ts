/**
 * The cluster under test: real `bin/shoald` members, each in a network namespace of its own
 * joined by a veth to a bridge in the "wire" namespace, its cluster address 127.0.0.(10+slot)
 * on that veth. The harness reaches members through their unix sockets (never partitioned, as
 * a Jepsen client is never cut from the node it talks to); members reach each other only over
 * the wire, where the nemesis drops traffic with nftables. Each member's database directory is
 * a small tmpfs of its own (the disk that fills up) and its process carries the fault library
 * (faults_shim.c) for clock jumps and slow fsyncs.
 */
import { Member, run, SHOAL, SHOALD, waitFor } from "../helpers/member.ts";
import { cmd, NetnsSet, nsCmd } from "../helpers/netns.ts";
import { drained } from "./workloads.ts";

/** A place for a member: a namespace and an address. Members come and go; slots stay. */
export interface Slot {
  index: number;
  ns: string;
  address: string;
  member: Member | null;
  /** Files the fault library reads (ms of clock offset, ms of fsync delay). */
  clockFile: string;
  fsyncFile: string;
  paused: boolean;
  /** Killed by the nemesis and not restarted yet. */
  down: boolean;
  /**
   * A member of the cluster that clients may use: not while it joins (it is still a standalone
   * server with a database of its own) nor once its removal starts (it becomes one again).
   */
  serving: boolean;
}

const BRIDGE = "br0";
const TMPFS_SIZE = "256m";
const WIRE_TABLE = "jepsen";

/** Options of a cluster under test. */
export interface ClusterOptions {
  dir: string;
  members: number;
  /** Namespace prefix, unique to the run. */
  prefix: string;
  /** The fault library (LD_PRELOAD), when it could be built. */
  shim: string | null;
  log: (line: string) => void;
  /** A member's process ended without the harness asking (a crash: always a bug). */
  onCrash: (name: string, how: string) => void;
}

export class JepsenCluster {
  readonly slots: Slot[] = [];
  readonly o: ClusterOptions;
  readonly nets: NetnsSet;
  #wire = "";
  #nextName = 1;
  #mounts: string[] = [];
  /** Processes the harness is ending on purpose. */
  #expected = new WeakSet<Deno.ChildProcess>();

  constructor(o: ClusterOptions) {
    this.o = o;
    this.nets = new NetnsSet(o.prefix);
  }

  /** Makes the wire, one slot more than members (for membership changes), and forms the cluster. */
  async create(): Promise<void> {
    this.#wire = await this.nets.add("w");
    await this.nets.bridge(this.#wire, BRIDGE);
    await this.#nft(`add table bridge ${WIRE_TABLE}`);
    await this.#nft(
      `add chain bridge ${WIRE_TABLE} cut { type filter hook forward priority 0; policy accept; }`,
    );
    for (let i = 1; i <= this.o.members + 1; i++) {
      const ns = await this.nets.add(`s${i}`, { localnet: true });
      const address = `127.0.0.${10 + i}`;
      await this.nets.attach({
        ns,
        ifname: "eth0",
        hubNs: this.#wire,
        bridge: BRIDGE,
        port: `p${i}`,
        cidr: `${address}/24`,
      });
      this.slots.push({
        index: i,
        ns,
        address,
        member: null,
        clockFile: `${this.o.dir}/s${i}.clock`,
        fsyncFile: `${this.o.dir}/s${i}.fsync`,
        paused: false,
        down: false,
        serving: false,
      });
      await Deno.writeTextFile(`${this.o.dir}/s${i}.clock`, "0");
      await Deno.writeTextFile(`${this.o.dir}/s${i}.fsync`, "0");
    }
    const first = this.slots[0]!;
    await this.#startIn(first);
    const yaml = `config:\n  core.https_address: "${first.address}:8443"\ncluster:\n  server_name: ${
      first.member!.name
    }\n  enabled: true\n`;
    const boot = await first.member!.shoald(["init", "--preseed"], { stdin: yaml });
    if (boot.code !== 0) {
      throw new Error(`Bootstrap failed: ${boot.stderr}\n${await first.member!.logTail()}`);
    }
    first.serving = true;
    for (let i = 1; i < this.o.members; i++) await this.join(this.slots[i]!);
  }

  /** Slots whose member clients may talk to. */
  get serving(): Slot[] {
    return this.slots.filter((s) => s.member !== null && s.serving);
  }

  /** Slots holding a member of the cluster (running or not). */
  get occupied(): Slot[] {
    return this.slots.filter((s) => s.member !== null);
  }

  /** Starts a new member in `slot` (a fresh name and state) and joins it through a live member. */
  async join(slot: Slot, via?: Slot): Promise<void> {
    const helper = via ?? this.occupied.find((s) => s !== slot && !s.down && !s.paused);
    if (!helper) throw new Error("No live member to join through");
    await this.#startIn(slot);
    const name = slot.member!.name;
    const add = await run(SHOAL, ["cluster", "add", name, "--quiet"], {
      env: helper.member!.env,
      timeoutMs: 30_000,
    });
    if (add.code !== 0) {
      await this.discard(slot);
      throw new Error(`cluster add ${name} through ${helper.member!.name} failed: ${add.stderr.trim()}`);
    }
    const yaml =
      `cluster:\n  enabled: true\n  server_name: ${name}\n  server_address: ${slot.address}:8443\n  cluster_token: ${add.stdout.trim()}\n`;
    const r = await run(SHOALD, ["init", "--preseed"], {
      env: slot.member!.env,
      stdin: yaml,
      timeoutMs: 90_000,
    });
    if (r.code !== 0) {
      const tail = await slot.member!.logTail(5);
      await this.discard(slot);
      throw new Error(`${name} could not join: ${r.stderr.trim()}\n${tail}`);
    }
    slot.serving = true;
  }

  /** Makes a fresh member in an empty slot: its state dir with the database on a tmpfs of its own. */
  async #startIn(slot: Slot): Promise<void> {
    const name = `m${this.#nextName++}`;
    const dir = `${this.o.dir}/${name}`;
    await Deno.mkdir(`${dir}/database`, { recursive: true });
    await cmd("mount", ["-t", "tmpfs", "-o", `size=${TMPFS_SIZE},mode=0700`, "tmpfs", `${dir}/database`]);
    this.#mounts.push(`${dir}/database`);
    const env: Record<string, string> = {
      SHOAL_FAULT_CLOCK_FILE: slot.clockFile,
      SHOAL_FAULT_FSYNC_FILE: slot.fsyncFile,
    };
    if (this.o.shim) env.LD_PRELOAD = this.o.shim;
    slot.member = new Member(dir, name, env, ["ip", "netns", "exec", slot.ns], { debug: false });
    slot.down = false;
    slot.paused = false;
    await this.#launch(slot);
  }

  /** Starts the slot's member and watches for an exit nobody asked for. */
  async #launch(slot: Slot): Promise<void> {
    const m = slot.member!;
    await m.start();
    const proc = m.process!;
    void proc.status.then((st) => {
      if (this.#expected.has(proc)) return;
      this.o.onCrash(m.name, `code ${st.code}${st.signal ? `, ${st.signal}` : ""}; log ${m.dir}.log`);
    });
  }

  /** kill -9 on purpose. */
  async #end(slot: Slot): Promise<void> {
    const p = slot.member?.process;
    if (p) this.#expected.add(p);
    await slot.member?.kill();
  }

  /** Stops a slot's member for good (removed from the cluster, or never joined) and frees the slot. */
  async discard(slot: Slot): Promise<void> {
    const m = slot.member;
    if (!m) return;
    if (slot.paused) this.#signal(slot, "SIGCONT");
    await this.#end(slot);
    await Deno.writeTextFile(slot.clockFile, "0");
    await Deno.writeTextFile(slot.fsyncFile, "0");
    await this.#unmount(`${m.dir}/database`);
    await Deno.remove(m.dir, { recursive: true }).catch(() => {});
    slot.member = null;
    slot.down = false;
    slot.paused = false;
    slot.serving = false;
  }

  async #unmount(path: string): Promise<void> {
    await cmd("umount", ["-l", path], { check: false });
    this.#mounts = this.#mounts.filter((m) => m !== path);
  }

  /** kill -9. */
  async kill(slot: Slot): Promise<void> {
    if (slot.paused) this.resume(slot);
    await this.#end(slot);
    slot.down = true;
  }

  /**
   * Stops a member gracefully (SIGTERM, as a service manager does), killing it only if it has
   * not ended within timeoutMs; resolves with whether it ended by itself, with code 0.
   */
  async stopGracefully(slot: Slot, timeoutMs: number): Promise<boolean> {
    if (slot.paused) this.resume(slot);
    const p = slot.member?.process;
    if (!p) return true;
    this.#expected.add(p);
    const st = await slot.member!.stop(timeoutMs);
    slot.down = true;
    return st !== null && st.signal === null && st.code === 0;
  }

  /** Starts a killed or stopped member again on its state. */
  async restart(slot: Slot): Promise<void> {
    if (!slot.member || !slot.down) return;
    await this.#launch(slot);
    slot.down = false;
  }

  #signal(slot: Slot, sig: Deno.Signal): void {
    const pid = slot.member?.process?.pid;
    if (pid !== undefined) Deno.kill(pid, sig);
  }

  /** SIGSTOP. */
  pause(slot: Slot): void {
    this.#signal(slot, "SIGSTOP");
    slot.paused = true;
  }

  /** SIGCONT. */
  resume(slot: Slot): void {
    this.#signal(slot, "SIGCONT");
    slot.paused = false;
  }

  /** Drops every packet from `from` to `to` on the wire, for each pair given. */
  async drop(pairs: [Slot, Slot][]): Promise<void> {
    for (const [a, b] of pairs) {
      await this.#nft(`add rule bridge ${WIRE_TABLE} cut ip saddr ${a.address} ip daddr ${b.address} drop`);
    }
  }

  /** Lets every packet through again. */
  async heal(): Promise<void> {
    await this.#nft(`flush chain bridge ${WIRE_TABLE} cut`);
  }

  async #nft(rule: string): Promise<void> {
    await nsCmd(this.#wire, "nft", rule.split(" "));
  }

  /** Steps a member's wall clock by `ms` from true time (0: back to true time). */
  async setClock(slot: Slot, ms: number): Promise<void> {
    await Deno.writeTextFile(slot.clockFile, String(Math.round(ms)));
  }

  /** Makes every fsync of a member sleep `ms` first (0: a normal disk). */
  async setFsyncDelay(slot: Slot, ms: number): Promise<void> {
    await Deno.writeTextFile(slot.fsyncFile, String(Math.round(ms)));
  }

  /** Fills the member's database tmpfs to the last byte with a file of its own. */
  async fillDisk(slot: Slot): Promise<void> {
    if (!slot.member) return;
    const f = await Deno.open(`${slot.member.dir}/database/.jepsen-filler`, { create: true, append: true });
    const chunk = new Uint8Array(1 << 20);
    try {
      for (;;) await f.write(chunk);
    } catch {
      // ENOSPC: full. Fill the last partial block too.
      try {
        for (;;) await f.write(chunk.subarray(0, 4096));
      } catch { /* full to the block */ }
    } finally {
      f.close();
    }
  }

  /** Gives the member's disk its space back. */
  async freeDisk(slot: Slot): Promise<void> {
    if (!slot.member) return;
    await Deno.remove(`${slot.member.dir}/database/.jepsen-filler`).catch(() => {});
  }

  /** The member that the first live member to answer lists as database-leader. */
  async leader(): Promise<Slot | undefined> {
    for (const s of this.occupied) {
      if (s.down || s.paused) continue;
      const client = Deno.createHttpClient({ proxy: { transport: "unix", path: s.member!.socket } });
      try {
        const res = await fetch("http://shoal/1.0/cluster/members?recursion=1", {
          client,
          signal: AbortSignal.timeout(3_000),
        });
        const body = await res.json() as { metadata?: { server_name: string; roles: string[] }[] };
        const name = body.metadata?.find((m) => m.roles.includes("database-leader"))?.server_name;
        const slot = this.occupied.find((x) => x.member!.name === name);
        if (slot) return slot;
      } catch {
        /* ask the next one */
      } finally {
        client.close();
      }
    }
    return undefined;
  }

  /** Removes a member from the cluster through another one, then stops it and frees its slot. */
  async remove(slot: Slot, via: Slot): Promise<void> {
    const name = slot.member!.name;
    slot.serving = false;
    await drained(slot.member!.socket);
    const r = await run(SHOAL, ["cluster", "remove", name], {
      env: via.member!.env,
      timeoutMs: 60_000,
    });
    if (r.code !== 0) {
      throw new Error(`cluster remove ${name} through ${via.member!.name} failed: ${r.stderr.trim()}`);
    }
    await this.discard(slot);
  }

  /** Undoes every fault that is on now: resumes, restarts, heals, frees disks and clocks. */
  async healAll(): Promise<void> {
    await this.heal();
    for (const s of this.occupied) {
      if (s.paused) this.resume(s);
      await this.setClock(s, 0);
      await this.setFsyncDelay(s, 0);
      await this.freeDisk(s);
    }
    for (const s of this.occupied) if (s.down) await this.restart(s);
  }

  /** Waits until every member is up and a leader is known. */
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    await waitFor("a leader after healing", () => this.leader(), timeoutMs, 500);
  }

  /** Stops every member, lifts the mounts, deletes the namespaces. */
  async dispose(): Promise<void> {
    for (const s of this.slots) {
      if (s.paused) this.resume(s);
      await this.#end(s);
    }
    for (const m of [...this.#mounts]) await this.#unmount(m);
    await this.nets.dispose();
  }
}
