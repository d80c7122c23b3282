/**
 * One seeded run of the deterministic simulator: members running the real Driver around the real
 * Raft core (on a virtual clock and an in-memory disk), a network
 * that loses, delays, duplicates and cuts, crashes that lose what was not yet persisted, clock
 * faults, membership and role changes, leadership transfers and snapshots, and clients driving
 * a key-value store on top. Everything random comes from one Rng; time is the event queue's.
 *
 * A run has two phases: `steps` events with faults, then every fault healed and a bounded
 * stretch of simulated time in which a leader must be elected and a proposal commit (liveness).
 * Invariants are checked after every event; the client history is checked for
 * linearizability at the end.
 * @module
 */
import { Driver } from "../../../lib/driver/mod.ts";
import type { PersistBatch } from "../../../lib/driver/log_storage.ts";
import type { StateMachine } from "../../../lib/driver/state_machine.ts";
import {
  BUG_NAMES,
  type Bugs,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
} from "../../../lib/raft/types.ts";
import { expectedConf, Invariants, Violation } from "./invariants.ts";
import { decodeCommand, encodeCommand, Kv } from "./kv.ts";
import { checkKv } from "./linearizability.ts";
import { type Applied, Disk, Member, TICK_MS } from "./member.ts";
import { copyMessage, describeMessage } from "./messages.ts";
import { Network } from "./network.ts";
import { EventQueue } from "./queue.ts";
import { Rng } from "../../../lib/util/rng.ts";
import { Crash, hostLogger, MemberClock, type Timer } from "./host.ts";
import { type ClientEvent, OP_TIMEOUT_MS, Workload } from "./workload.ts";

export type BugName = keyof typeof BUG_NAMES;

export interface SimOptions {
  seed: number;
  nodes: number;
  /** Events in the faulty phase. */
  steps: number;
  bug?: BugName;
  /** false: skip the direct contract checks (see Invariants). */
  contract?: boolean;
}

export interface SimStats {
  events: number;
  virtualMs: number;
  leaders: number;
  maxTerm: number;
  crashes: number;
  snapshotsTaken: number;
  snapshotsInstalled: number;
  confChanges: number;
  transfers: number;
  ops: number;
  acked: number;
  reads: number;
  pending: number;
  oldTermCommits: number;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  /** Which check failed ("election safety", "linearizability", "liveness", …). */
  check?: string;
  error?: string;
  /** Extra lines (the operations around a linearizability failure). */
  detail?: string[];
  /** The last events before the failure, oldest first. */
  trace: string[];
  stats: SimStats;
}

const ELECTION_TICK = 10;
const HEARTBEAT_TICK = 2;
const LIVENESS_MS = 10_000;
const TRACE_LENGTH = 40;
/** Events kept, so that a failure found at the end (linearizability) can show its own moment. */
const TRACE_KEPT = 4096;
const noop = () => {};

type Event =
  | { k: "timer"; t: Timer }
  | { k: "msg"; m: Message; lost?: boolean }
  | { k: "restart"; id: NodeId }
  | { k: "crash"; id: NodeId; epoch: number }
  | ClientEvent
  | { k: "fault" }
  | { k: "heal" }
  | { k: "probe" };

/**
 * A member's key-value store as its driver sees it. A class rather than an object literal: a
 * literal's getter gives every object a hidden class of its own, so each restart added one to
 * the old generation and the driver's reads of `appliedIndex` went megamorphic.
 */
class MemberFsm implements StateMachine<Applied> {
  constructor(
    private readonly m: Member,
    readonly applyEntry: (index: number, term: number, data: string) => Applied,
    private readonly install: () => void,
  ) {}

  get appliedIndex(): number {
    return this.m.applied;
  }

  snapshot(): Uint8Array {
    return this.m.kv.encode();
  }

  restore(): void {
    this.install();
  }

  sync(): void {}
}

export class Simulation {
  readonly rng: Rng;
  readonly q = new EventQueue<Event>();
  readonly inv: Invariants;
  readonly net: Network;
  readonly members: Member[] = [];
  readonly workload: Workload;
  /** A ring of recent events; messages are kept as they are and described only on failure. */
  private trace: { t: number; s: string | Message }[] = [];
  private tracePos = 0;
  private bugs: Bugs | undefined;
  private preVote: boolean;
  private checkQuorum: boolean;
  private maxSizePerMsg: number;
  private maxInflightMsgs: number;
  private crashAfterReady: number;
  private crashAfterVote: number;
  private crashNewLeader: number;
  private crashAfterCommit: number;
  private faultEvery: number;
  /** Set once every fault is healed: no new faults or operations. */
  healing = false;
  /**
   * What the drivers deferred (Clock.defer), run after each event; `deferredLen` of them are due.
   * Kept with a count rather than emptied with `length = 0`, which drops the array's storage and
   * made every event allocate it again (a large share of a run's young-generation garbage).
   */
  private deferred: (() => void)[] = [];
  private deferredLen = 0;
  /** Promises of the drivers a client or the run waits on: while any is out, each event ends
   *  by letting promise reactions run. */
  private waiting = 0;
  /** Messages sent during the current event (a machine crash loses its own): the first
   *  `outboxLen` (a count, as for `deferred`). */
  private outbox: Event[] = [];
  private outboxLen = 0;
  /** A broken property found inside a driver (which stops on any throw), reported after the event. */
  private failure: Error | null = null;
  private probe: { index: number; done: boolean } | null = null;
  stats: SimStats = {
    events: 0,
    virtualMs: 0,
    leaders: 0,
    maxTerm: 0,
    crashes: 0,
    snapshotsTaken: 0,
    snapshotsInstalled: 0,
    confChanges: 0,
    transfers: 0,
    ops: 0,
    acked: 0,
    reads: 0,
    pending: 0,
    oldTermCommits: 0,
  };

  constructor(readonly opts: SimOptions) {
    const rng = this.rng = new Rng(opts.seed);
    this.inv = new Invariants(opts.contract ?? true);
    if (opts.bug) this.bugs = { [BUG_NAMES[opts.bug]]: true };
    this.preVote = rng.chance(0.6);
    this.checkQuorum = rng.chance(0.7);
    // One entry per message half the time, so that a follower can hold a new leader's older
    // entries without its own (Figure 8 again).
    this.maxSizePerMsg = rng.pick([1, 1, 1, 64, 256, 4096]);
    this.maxInflightMsgs = rng.between(1, 8);
    // A quarter of the seeds are calm (rare faults, no crashes at chosen moments) so that long
    // stretches of steady replication, flow control and snapshots under load get explored too.
    const storm = rng.chance(0.75);
    this.crashAfterReady = storm ? rng.pick([0, 0.002, 0.01]) : 0;
    this.crashAfterVote = storm ? rng.pick([0, 0.1, 0.3]) : 0;
    // A leader lost right after its election, before its own entry spreads, is the ground
    // Figure 8 grows on.
    this.crashNewLeader = storm ? rng.pick([0.2, 0.5, 0.8]) : 0;
    this.crashAfterCommit = storm ? rng.pick([0, 0.3, 0.6]) : 0;
    this.faultEvery = storm ? rng.between(20, 120) : rng.between(150, 400);
    this.net = new Network({
      drop: rng.pick([0, 0.01, 0.05, 0.1]),
      duplicate: rng.pick([0, 0.02, 0.05]),
      minDelay: 1,
      maxDelay: rng.between(2, 12),
      slow: rng.pick([0, 0.02, 0.1]),
      slowDelay: rng.between(20, 120),
    });
    const ids = Array.from({ length: opts.nodes }, (_, i) => i + 1);
    // Start with every member a voter, or three voters and the rest stand-bys and spares.
    const nv = rng.chance(0.5) || opts.nodes <= 3 ? opts.nodes : 3;
    const conf: ConfState = { voters: ids.slice(0, nv), standbys: [], spares: [] };
    for (const id of ids.slice(nv)) (rng.chance(0.5) ? conf.standbys : conf.spares).push(id);
    const empty = new Kv().encode();
    for (const id of ids) {
      const m = new Member(id, new Disk(conf, empty), conf, rng.between(5, 60), rng.between(0, 4));
      m.storage.hooks = {
        before: (b) => this.beforePersist(m, b),
        after: (b, before) => this.afterPersist(m, b, before),
        snapshotTaken: () => this.stats.snapshotsTaken++,
      };
      this.members.push(m);
    }
    for (const m of this.members) this.start(m);
    this.workload = new Workload(this, 6, ["a", "b", "c"]);
    this.q.after(this.faultEvery, { k: "fault" });
  }

  member(id: NodeId): Member | undefined {
    return this.members[id - 1];
  }

  note(s: string | Message): void {
    this.trace[this.tracePos++ % TRACE_KEPT] = { t: this.q.now, s };
  }

  /** The last events, oldest first; with `upTo`, the last ones at or before that virtual time. */
  lastEvents(upTo = Infinity): string[] {
    let end = this.tracePos;
    const oldest = Math.max(0, this.tracePos - TRACE_KEPT);
    while (end > oldest && this.trace[(end - 1) % TRACE_KEPT]!.t > upTo) end--;
    const n = Math.min(end - oldest, TRACE_LENGTH);
    const out: string[] = [];
    for (let i = end - n; i < end; i++) {
      const { t, s } = this.trace[i % TRACE_KEPT]!;
      out.push(`${String(t).padStart(6)} ${typeof s === "string" ? s : describeMessage(s)}`);
    }
    return out;
  }

  // ---- members: the real Driver, hooked at its seams ----

  private start(m: Member): void {
    const snap = m.storage.snapshot();
    m.kv = Kv.decode(snap.data);
    m.applied = snap.meta.index;
    m.conf = snap.meta.conf;
    m.role = "follower";
    m.lead = 0;
    m.term = m.storage.hardState.term;
    m.expectConf = null;
    m.epoch++;
    const clock = new MemberClock(this, m);
    const driver: Driver<Applied> = new Driver<Applied>({
      id: m.id,
      storage: m.storage,
      fsm: new MemberFsm(
        m,
        (index, term, data) => this.apply(m, index, term, data),
        () => this.installSnapshot(m),
      ),
      log: hostLogger(this),
      clock,
      send: (msgs) => this.send(m, msgs),
      tickMs: TICK_MS,
      electionTick: ELECTION_TICK,
      heartbeatTick: HEARTBEAT_TICK,
      snapshotEvery: m.snapEvery,
      keepEntries: m.keepEntries,
      seed: this.rng.int(2 ** 32),
      // Clients give up after OP_TIMEOUT_MS: a lost read index is asked again sooner than 5 s.
      readTimeoutMs: 300,
      raft: {
        checkQuorum: this.checkQuorum,
        preVote: this.preVote,
        maxSizePerMsg: this.maxSizePerMsg,
        maxInflightMsgs: this.maxInflightMsgs,
        maxInflightBytes: this.maxSizePerMsg * this.maxInflightMsgs * 4,
        bugs: this.bugs,
      },
      onConfState: (conf) => this.guard(() => this.confApplied(m, conf)),
      onLeader: (lead, term) => this.guard(() => this.leaderChanged(m, lead, term)),
      onFail: (e) => this.failed(m, driver, e),
    });
    m.driver = driver;
    m.clock = clock;
    driver.start();
  }

  /** Runs a driver observer's check: the driver would only log what it throws. */
  private guard(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.failure ??= e as Error;
    }
  }

  /** Records a core's error (or any other) as the run's failure. */
  coreError(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    const where = /lib\/raft\//.test(err.stack?.split("\n")[1] ?? "") ? "core error" : "error";
    this.failure ??= new Violation(where, `${err.name}: ${err.message}`);
  }

  /** A driver stopped on a throw: a planted crash, a broken property, or a real failure. */
  private failed(m: Member, driver: Driver<Applied>, e: Error): void {
    if (e instanceof Crash) {
      if (m.driver === driver) this.crashed(m, e.why);
    } else if (e instanceof Violation) this.failure ??= e;
    else this.coreError(e);
  }

  /** A crash from outside the driver (a fault, or soon after an election). */
  private crash(m: Member, why: string): void {
    if (!m.driver) return;
    m.driver.stop();
    this.crashed(m, why);
  }

  private crashed(m: Member, why: string): void {
    this.note(`${m.id} crashes ${why}`);
    this.stats.crashes++;
    m.driver = null;
    if (m.clock) m.clock.dead = true;
    m.crashNow = false;
    m.epoch++;
    m.role = "follower";
    // Crashes at chosen moments come back fast, so the divergent logs they leave stay in play.
    const quick = this.rng.chance(why === "(fault)" ? 0.4 : 0.8);
    const down = this.healing ? 0 : quick ? this.rng.between(0, 20) : this.rng.between(20, 400);
    this.q.after(down, { k: "restart", id: m.id });
  }

  /** Waits on a driver's promise the way a client does; the run lets reactions run after events. */
  track<T>(p: Promise<T>, ok: (v: T) => void, err: (e: Error) => void = () => {}): void {
    this.waiting++;
    p.then((v) => {
      this.waiting--;
      ok(v);
    }, (e) => {
      this.waiting--;
      err(e as Error);
    });
  }

  private leaderChanged(m: Member, lead: NodeId, term: number): void {
    m.lead = lead;
    if (lead === m.id && m.role !== "leader") {
      this.inv.leader(m.id, term);
      m.completeTo = 0;
      m.term = term;
      this.note(`${m.id} becomes leader of term ${term}`);
      if (!this.healing && this.rng.chance(this.crashNewLeader)) {
        // Before its first messages leave (its own entry stays local), or a little later.
        if (this.rng.chance(0.5)) m.crashNow = true;
        else this.q.after(this.rng.between(0, 25), { k: "crash", id: m.id, epoch: m.epoch });
      }
    }
    m.role = lead === m.id ? "leader" : "follower";
  }

  /** The driver's write of a Ready, before it reaches the disk: crash seam and checks. */
  private beforePersist(m: Member, b: PersistBatch): void {
    if (!this.healing && this.crashAfterReady > 0 && this.rng.chance(this.crashAfterReady)) {
      throw Crash.of("before persisting its Ready");
    }
    const s = m.storage;
    if (b.entries.length > 0) {
      const first = b.entries[0]!.index;
      const last = b.snapshot ? b.snapshot.meta.index : s.lastIndex();
      if (first > last + 1) {
        throw new Violation(
          "log matching",
          `member ${m.id} was handed entries from ${first} to persist with only ${last} on disk (a gap)`,
        );
      }
    }
    if (b.hardState) this.inv.hardStateMoved(m.id, s.hardState, b.hardState);
  }

  /** ... and after: what the write made durable, and the crash seams after it. */
  private afterPersist(m: Member, b: PersistBatch, before: HardState): void {
    const s = m.storage;
    if (b.entries.length > 0) {
      this.inv.appended(m.id, b.entries, s);
      if (m.role === "leader" && b.entries.some((e) => e.type === "conf")) {
        this.inv.oneConfChange(m.id, m.applied, s);
      }
    }
    if (b.hardState) {
      m.term = b.hardState.term;
      if (m.term > this.stats.maxTerm) this.stats.maxTerm = m.term;
    }
    if (b.snapshot || s.hardState.commit !== before.commit) {
      const snapAt = b.snapshot ? b.snapshot.meta.index : 0;
      this.inv.commitAdvanced(
        m.id,
        Math.max(before.commit, snapAt),
        s.hardState,
        s,
        m.role === "leader" ? m.term : 0,
      );
    }
    // The machine dies right after the write: what it sent in this instant (a leader sends
    // before its own write, as the driver does) dies in its kernel with it.
    if (!this.healing && this.crashAfterReady > 0 && this.rng.chance(this.crashAfterReady)) {
      this.lose(m, "after persisting, before sending");
    }
    if (m.crashNow) {
      m.crashNow = false;
      this.lose(m, "right after its election, before sending");
    }
    // The moment a leader alone knows an index is committed is when a wrong commit does harm.
    if (
      !this.healing && m.role === "leader" && s.hardState.commit > before.commit &&
      this.rng.chance(this.crashAfterCommit)
    ) {
      this.lose(m, `after committing ${s.hardState.commit}, before telling anyone`);
    }
  }

  /** A machine crash: messages `m` sent in this instant never leave, then the driver stops. */
  private lose(m: Member, why: string): never {
    for (let i = 0; i < this.outboxLen; i++) {
      const ev = this.outbox[i]!;
      if (ev.k === "msg" && ev.m.from === m.id) ev.lost = true;
    }
    throw Crash.of(why);
  }

  /** The driver's transport: the contract checks on what leaves, then the network. */
  private send(m: Member, msgs: Message[]): void {
    let votedFor = false;
    for (const msg of msgs) {
      this.inv.sent(m.id, msg, m.storage);
      if (msg.type === "vote-resp" && !msg.reject) votedFor = true;
      const delays = this.net.route(this.rng, msg.from, msg.to);
      if (delays.length === 0 && this.net.isCut(msg.from, msg.to)) {
        // A real transport sees the connection fail; tell the sender, as the daemon does.
        m.driver?.reportUnreachable(msg.to);
      }
      for (const d of delays) {
        const ev: Event = { k: "msg", m: msg };
        this.outbox[this.outboxLen++] = ev;
        this.q.after(d, ev);
      }
    }
    if (votedFor && !this.healing && this.rng.chance(this.crashAfterVote)) {
      throw Crash.of("right after granting a vote");
    }
  }

  /** The state machine restores a snapshot the driver just persisted. */
  private installSnapshot(m: Member): void {
    const snap = m.storage.snapshot();
    this.inv.snapshotInstalled(m.id, snap);
    this.stats.snapshotsInstalled++;
    m.kv = Kv.decode(snap.data);
    m.applied = snap.meta.index;
    m.expectConf = { index: snap.meta.index, cc: null, conf: snap.meta.conf };
    this.note(`${m.id} installs snapshot ${snap.meta.index}/${snap.meta.term}`);
  }

  private apply(m: Member, index: number, term: number, data: string): Applied {
    if (index !== m.applied + 1) {
      throw new Violation(
        "apply order",
        `member ${m.id} was handed entry ${index} to apply after ${m.applied}`,
      );
    }
    // The driver hands membership entries over as "": their change is on the disk.
    const e: Entry = data !== ""
      ? { index, term, type: "normal", data }
      : m.storage.entries(index, index + 1)[0]!;
    this.inv.appliedEntry(m.id, e, m.storage.hardState.commit);
    m.applied = index;
    if (e.type === "conf") {
      if (e.data !== "") {
        const cc = JSON.parse(e.data) as ConfChange;
        m.expectConf = { index, cc, conf: expectedConf(m.conf, cc) };
        this.stats.confChanges++;
      }
      return { ok: true, term, data: e.data };
    }
    const cmd = decodeCommand(data);
    const ok = cmd ? m.kv.apply(cmd) : true;
    if (this.probe && !this.probe.done && cmd?.op === "noop" && cmd.id === "probe") {
      this.probe.done = true;
      this.probe.index = index;
      this.note(`${m.id} applies the liveness probe at ${index}`);
    }
    return { ok, term, data };
  }

  /** The driver reports the configuration after a membership entry, a snapshot, or a start. */
  private confApplied(m: Member, conf: ConfState): void {
    const x = m.expectConf;
    m.expectConf = null;
    m.conf = conf;
    if (!x) return;
    this.inv.confAgrees(m.id, x.index, x.conf, conf);
    if (x.cc) this.note(`${m.id} applies ${x.cc.type} ${x.cc.id} at ${x.index}: voters ${conf.voters}`);
  }

  /** Runs what the drivers deferred, until nothing is left. */
  private flush(): void {
    const d = this.deferred;
    // What runs may defer more: it lands past i and runs in this same pass.
    for (let i = 0; i < this.deferredLen; i++) {
      const fn = d[i]!;
      d[i] = noop; // a stopped driver's callback is not kept alive by its old slot
      fn();
    }
    this.deferredLen = 0;
  }

  defer(fn: () => void): void {
    this.deferred[this.deferredLen++] = fn;
  }

  // ---- faults ----

  private leader(): Member | undefined {
    let best: Member | undefined;
    for (const m of this.members) {
      if (m.driver && m.role === "leader" && (!best || m.term > best.term)) best = m;
    }
    return best;
  }

  private fault(): void {
    const r = this.rng;
    const ids = this.members.map((m) => m.id);
    const up = this.members.filter((m) => m.driver);
    const lead = this.leader();
    const k = r.int(100);
    if (k < 16) {
      // Crash: at most two members down at once, so that work goes on between failures.
      if (up.length > 0 && up.length > this.members.length - 2) {
        const victim = lead && r.chance(0.5) ? lead : r.pick(up);
        this.crash(victim, "(fault)");
      }
    } else if (k < 28) {
      const side = ids.filter(() => r.chance(0.4));
      const rest = ids.filter((id) => !side.includes(id));
      if (side.length && rest.length) {
        this.net.partition(side, rest);
        this.note(`partition [${side}] | [${rest}]`);
        this.q.after(r.between(50, 600), { k: "heal" });
      }
    } else if (k < 38) {
      if (lead) {
        // The leader alone, or with followers short of a majority of voters: the majority
        // elects anew while the old leader may still hear some of its own.
        const voters = lead.conf.voters.filter((id) => id !== lead.id);
        let room = Math.floor((voters.length + 1) / 2) - 1;
        const side = [lead.id];
        for (const id of ids) {
          if (id === lead.id) continue;
          const voter = voters.includes(id);
          if (voter ? room > 0 && r.chance(0.5) : r.chance(0.3)) {
            side.push(id);
            if (voter) room--;
          }
        }
        const rest = ids.filter((id) => !side.includes(id));
        this.net.partition(side, rest);
        this.note(`isolate leader ${lead.id}${side.length > 1 ? ` with [${side.slice(1)}]` : ""}`);
        if (r.chance(0.5)) {
          // A paused clock too: the old leader keeps believing it leads.
          lead.stalledUntil = this.q.now + r.between(100, 800);
          this.note(`${lead.id} clock stalls until ${lead.stalledUntil}`);
        }
        this.q.after(r.between(100, 800), { k: "heal" });
      }
    } else if (k < 46) {
      const a = r.pick(ids), b = r.pick(ids);
      if (a !== b) {
        this.net.cutOneWay(a, b);
        if (r.chance(0.5)) this.net.cutOneWay(a, r.pick(ids.filter((x) => x !== a)));
        this.note(`cut ${a} -> ${b} one way`);
        this.q.after(r.between(50, 600), { k: "heal" });
      }
    } else if (k < 52) {
      this.net.heal();
      this.note("heal");
    } else if (k < 58) {
      const m = r.pick(this.members);
      m.tickMs = r.pick([4, 6, 10, 10, 20, 40]);
      this.note(`${m.id} clock now ticks every ${m.tickMs} ms`);
    } else if (k < 66) {
      if (lead && lead.driver) {
        const to = r.pick(lead.conf.voters.length ? lead.conf.voters : ids);
        this.note(`transfer leadership ${lead.id} -> ${to}`);
        this.stats.transfers++;
        this.track(lead.driver.transferLeadership(100, to), () => {});
      }
    } else if (k < 80) {
      if (lead && lead.driver) this.changeMembership(lead);
    } else if (k < 86) {
      if (up.length) r.pick(up).driver!.snapshotNow(r.between(0, 4));
    } else if (k < 90) {
      const m = up.length ? r.pick(up) : undefined;
      if (m && m.driver) {
        this.note(`${m.id} campaigns`);
        m.driver.campaign();
      }
    }
    this.q.after(r.between(this.faultEvery / 2, this.faultEvery * 2), { k: "fault" });
  }

  private changeMembership(lead: Member): void {
    const r = this.rng;
    const conf = lead.conf;
    const id = r.pick(this.members).id;
    const isVoter = conf.voters.includes(id);
    const minVoters = Math.max(1, Math.min(3, this.members.length - 1));
    let cc: ConfChange;
    if (isVoter) {
      if (conf.voters.length <= minVoters) {
        cc = { type: "add-voter", id: r.pick(conf.standbys.concat(conf.spares, [0])) };
      } else {cc = r.pick<ConfChange>([{ type: "add-standby", id }, { type: "add-spare", id }, {
          type: "remove",
          id,
        }]);}
    } else {
      const member = conf.standbys.includes(id) || conf.spares.includes(id);
      cc = r.pick<ConfChange>(
        member
          ? [{ type: "add-voter", id }, { type: "add-voter", id }, { type: "add-standby", id }, {
            type: "remove",
            id,
          }]
          : [{ type: "add-voter", id }, { type: "add-standby", id }, { type: "add-spare", id }],
      );
    }
    if (cc.id === 0) return;
    this.note(`propose ${cc.type} ${cc.id} at leader ${lead.id}`);
    this.track(
      lead.driver!.changeMembership(cc),
      () => {},
      (e) => this.note(`${cc.type} ${cc.id}: ${e.message}`),
    );
  }

  // ---- the run ----

  private handle(ev: Event): void {
    switch (ev.k) {
      case "timer":
        return ev.t.clock.fire(ev.t);
      case "msg": {
        const msg = ev.m;
        const m = this.member(msg.to);
        if (!m || !m.driver || ev.lost || this.net.isCut(msg.from, msg.to)) return;
        if (msg.type !== "heartbeat" && msg.type !== "heartbeat-resp") this.note(msg);
        m.driver.receive([copyMessage(msg)]);
        return;
      }
      case "restart": {
        const m = this.member(ev.id)!;
        if (!m.driver) {
          this.note(`${m.id} restarts at term ${m.storage.hardState.term} vote ${m.storage.hardState.vote}`);
          this.start(m);
        }
        return;
      }
      case "crash": {
        const m = this.member(ev.id)!;
        if (m.driver && m.epoch === ev.epoch && !this.healing) this.crash(m, "soon after its election");
        return;
      }
      case "client":
      case "timeout":
        return this.workload.handle(ev);
      case "fault":
        if (!this.healing) this.fault();
        return;
      case "heal":
        if (!this.healing) {
          this.net.heal();
          for (const m of this.members) m.stalledUntil = 0;
          this.note("heal");
        }
        return;
      case "probe":
        return this.probeStep();
    }
  }

  private afterStep(): void {
    for (const m of this.members) {
      if (m.driver && m.role === "leader") {
        m.completeTo = this.inv.leaderComplete(m.id, m.term, m.storage, m.completeTo);
      }
    }
  }

  /** Liveness: once healed, some leader must commit a probe entry. */
  private probeStep(): void {
    if (this.probe?.done) return;
    const lead = this.leader();
    if (lead && lead.driver && (!this.probe || this.q.now % 200 < 10)) {
      this.probe ??= { index: 0, done: false };
      this.track(lead.driver.propose(encodeCommand({ id: "probe", op: "noop" })), () => {});
    }
    if (!this.probe?.done) this.q.after(10, { k: "probe" });
  }

  private heal(): void {
    this.healing = true;
    this.net.heal();
    this.net.params.drop = 0;
    this.net.params.duplicate = 0;
    for (const m of this.members) {
      m.stalledUntil = 0;
      m.tickMs = TICK_MS;
      if (!m.driver) this.start(m);
    }
    this.note("all faults healed");
    this.q.after(0, { k: "probe" });
  }

  /**
   * Liveness, continued: every member that replicates the log (voters and stand-bys) catches up
   * to `index` in bounded time.
   */
  private async converge(index: number): Promise<void> {
    const start = this.q.now;
    for (;;) {
      const lead = this.leader();
      const need = lead ? [...lead.conf.voters, ...lead.conf.standbys].map((id) => this.member(id)!) : [];
      const behind = need.filter((m) => m.applied < index);
      if (lead && behind.length === 0) break;
      if (this.q.now - start > LIVENESS_MS) {
        throw new Violation(
          "liveness",
          lead
            ? `members ${
              behind.map((m) => `${m.id} (applied ${m.applied})`).join(", ")
            } have not caught up ` +
              `to index ${index} ${LIVENESS_MS} ms after leader ${lead.id} committed it`
            : `no leader ${LIVENESS_MS} ms after the liveness probe committed`,
        );
      }
      this.step();
      if (this.due()) {
        await null; // promise reactions run here (inline: an async call per event costs)
        this.reacted();
      }
    }
  }

  /** After the run settles: members that applied the same index hold the same state. */
  private compareStates(index: number): void {
    const byIndex = new Map<number, { id: NodeId; state: string }>();
    for (const m of this.members) {
      if (!m.driver || m.applied < index) continue;
      const state = new TextDecoder().decode(m.kv.encode());
      const other = byIndex.get(m.applied);
      if (other && other.state !== state) {
        throw new Violation(
          "state-machine safety",
          `members ${other.id} and ${m.id} both applied up to ${m.applied} but hold different states: ` +
            `${other.state.slice(0, 80)} vs ${state.slice(0, 80)}`,
        );
      }
      byIndex.set(m.applied, { id: m.id, state });
    }
  }

  /**
   * One event, and what the drivers deferred. Callers then let promise reactions run when due
   * (an async step per event would cost every event a promise).
   */
  private step(): void {
    let ev = this.q.take();
    // A cancelled timer is no event (a driver cancels most of its timeouts).
    while (ev?.k === "timer" && (!ev.t.live || ev.t.clock.dead)) ev = this.q.take();
    if (ev === undefined) throw new Violation("liveness", "nothing left to simulate");
    this.stats.events++;
    this.outboxLen = 0;
    this.handle(ev);
    this.flush();
    if (this.failure) throw this.failure;
    this.afterStep();
  }

  /**
   * Whether promise reactions must run now: something waits on a driver's promise and the next
   * event comes later than this instant (reactions of one instant run together, at its time).
   */
  private due(): boolean {
    return this.waiting > 0 && this.q.nextTime > this.q.now;
  }

  /** After promise reactions ran (a client learned an outcome): what they deferred. */
  private reacted(): void {
    this.flush();
    if (this.failure) throw this.failure;
  }

  async run(): Promise<SimResult> {
    try {
      for (let i = 0; i < this.opts.steps; i++) {
        this.step();
        if (this.due()) {
          await null; // promise reactions run here (inline: an async call per event costs)
          this.reacted();
        }
      }
      this.heal();
      const healedAt = this.q.now;
      while (!this.probe?.done) {
        if (this.q.now - healedAt > LIVENESS_MS) {
          const lead = this.leader();
          throw new Violation(
            "liveness",
            `${LIVENESS_MS} ms after every fault healed ` +
              (lead ? `leader ${lead.id} has not committed a proposal` : "no leader is elected"),
          );
        }
        this.step();
        if (this.due()) {
          await null; // promise reactions run here (inline: an async call per event costs)
          this.reacted();
        }
      }
      await this.converge(this.probe!.index);
      // Let outstanding operations resolve before judging the history.
      const settle = this.q.now + OP_TIMEOUT_MS + 10;
      while (this.q.now < settle) {
        this.step();
        if (this.due()) {
          await null; // promise reactions run here (inline: an async call per event costs)
          this.reacted();
        }
      }
      this.compareStates(this.probe!.index);
      this.stats.virtualMs = this.q.now;
      this.stats.leaders = this.inv.leadersElected;
      this.stats.oldTermCommits = this.inv.oldTermCommits;
      const lin = checkKv(this.workload.history);
      if (lin.ok === false) {
        return this.result(new Violation("linearizability", lin.reason), lin.ops, lin.at);
      }
      if (lin.ok === "unknown") return this.result(new Violation("linearizability (undecided)", lin.reason));
      return this.result();
    } catch (e) {
      this.stats.virtualMs = this.q.now;
      this.stats.leaders = this.inv.leadersElected;
      this.stats.oldTermCommits = this.inv.oldTermCommits;
      if (e instanceof Violation) return this.result(e);
      const err = e as Error;
      return this.result(
        new Violation(
          /lib\/raft\//.test(err.stack?.split("\n")[1] ?? "") ? "core error" : "error",
          `${err.name}: ${err.message}`,
        ),
        (err.stack ?? "").split("\n").slice(1, 8),
      );
    } finally {
      this.release();
    }
  }

  /**
   * Lets go of the run's bulk once its result is built. A finished seed's long-lived arrays (the
   * trace ring, the queue's heap) sit in the old generation until the next full collection, and
   * what they point to stays alive through every scavenge until then: with several seeds between
   * two scavenges, that was much of what the young generation copied and promoted.
   */
  private release(): void {
    this.trace = [];
    this.q.clear();
  }

  private result(v?: Violation, detail?: string[], at?: number): SimResult {
    return {
      seed: this.opts.seed,
      ok: v === undefined,
      check: v?.check,
      error: v?.message,
      detail,
      trace: v ? this.lastEvents(at) : [],
      stats: this.stats,
    };
  }
}

export function runSeed(opts: SimOptions): Promise<SimResult> {
  return new Simulation(opts).run();
}
