import {
  cloneConf,
  type ConfChange,
  type ConfState,
  type Entry,
  type Message,
  RawNode,
  type Ready,
  type Snapshot,
  type Storage,
} from "../raft/mod.ts";
import { refuse } from "./refusals.ts";
import { seededRng } from "../util/rng.ts";
import type { DriverOptions } from "./options.ts";
import { type Clock, type ClockTimer, systemClock } from "./clock.ts";
import { commitSeconds, leaderChanges } from "./metrics.ts";
import { sameConf } from "./conf.ts";

interface Waiter<T> {
  term: number;
  d: PromiseWithResolvers<T>;
  timer: ClockTimer;
}

interface ApplyWaiter {
  index: number;
  d: PromiseWithResolvers<void>;
}

/**
 * The only place with timers: runs the pure Raft core against durable storage, the transport
 * and the state machine. For every Ready it persists (one fsync), then sends, then applies,
 * then advances — the order lib/raft's Ready documents.
 */
export class Driver<R> {
  readonly id: number;
  #o:
    & Required<Omit<DriverOptions<R>, "onConfState" | "onLeader" | "onFail" | "seed" | "raft">>
    & Pick<DriverOptions<R>, "onConfState" | "onLeader" | "onFail" | "seed" | "raft">;
  #clock: Clock;
  #node!: RawNode;
  #ticker: ClockTimer | undefined;
  #scheduled = false;
  /** A Ready's write is on its way to the disk: no other Ready is taken until it is durable. */
  #writing = false;
  #stopped = false;
  #failed: Error | null = null;
  #conf: ConfState = { voters: [], standbys: [], spares: [] };
  #lead = 0;
  #term = 0;
  #isLeader = false;
  /** Index of the new leader's first entry: state is current once it is applied. */
  #readyIndex = Infinity;
  #waiters = new Map<number, Waiter<{ index: number; outcomes: R }>>();
  #confWaiters = new Map<number, Waiter<ConfState>>();
  #applyWaiters: ApplyWaiter[] = [];
  #leaderWaiters: PromiseWithResolvers<void>[] = [];
  #reads = new Map<string, { d: PromiseWithResolvers<number>; timer: ClockTimer }>();
  #readSeq = 0;
  /**
   * Tags this run's read contexts: a read index answered to an earlier run of this member (a
   * delayed reply from before a restart, when the counter began again at 1) must not answer a
   * read of this one. The simulator found that stale read (a linearizability failure).
   */
  #readTag = "";
  #pendingReads: PromiseWithResolvers<void>[] = [];
  #readInFlight = false;

  constructor(o: DriverOptions<R>) {
    this.id = o.id;
    this.#o = {
      clock: systemClock,
      tickMs: 100,
      electionTick: 5,
      heartbeatTick: 1,
      snapshotEvery: 2000,
      keepEntries: 500,
      proposalTimeoutMs: 30_000,
      readTimeoutMs: 5_000,
      ...o,
    };
    this.#clock = this.#o.clock;
  }

  /** Starts the core from what storage holds, and the ticker. */
  start(): void {
    const storage = this.#o.storage;
    const snap = storage.snapshotMeta;
    this.#conf = cloneConf(snap.conf);
    // The core draws randomness from this injected generator only.
    const seed = this.#o.seed ?? (crypto.getRandomValues(new Uint32Array(1))[0]! ^ this.id);
    const rng = seededRng(seed);
    this.#readTag = Math.floor(seededRng(~seed)() * 2 ** 32).toString(36);
    this.#node = new RawNode({
      id: this.id,
      storage: this.#storageView(),
      electionTick: this.#o.electionTick,
      heartbeatTick: this.#o.heartbeatTick,
      rng,
      // Committed entries after the snapshot are delivered again: the state machine skips
      // what it already applied, and membership entries rebuild the configuration.
      applied: snap.index,
      checkQuorum: true,
      preVote: true,
      maxSizePerMsg: 1 << 20,
      maxInflightMsgs: 256,
      ...this.#o.raft,
    });
    if (this.#o.fsm.appliedIndex < snap.index && snap.index > 0) {
      // The state machine lost what the snapshot covers (it was replaced): restore it.
      const data = storage.snapshot().data;
      if (data.length > 0) this.#o.fsm.restore(data);
    }
    this.#o.onConfState?.(this.#conf);
    this.#ticker = this.#clock.setInterval(() => this.#tick(), this.#o.tickMs);
    this.#kick();
  }

  /**
   * The storage the core reads, with one addition: a snapshot is taken from the state machine
   * when the stored one has no data yet (a new cluster's placeholder), so a joining member
   * always receives real state, or when its configuration is not the one applied now. A member
   * sent a snapshot may have been a voter at the stored one's index, been demoted to spare
   * since, and dropped its log (a spare keeps none): restored from that snapshot it would count
   * itself a voter by a configuration the cluster left long ago (with one voter, itself: it
   * elected itself alone) until the entries after it arrive. Taken now, the snapshot names it
   * in the role it has, as a member's own log always does.
   */
  #storageView(): Storage {
    const s = this.#o.storage;
    return {
      // Bound, not wrapped: the core calls these for nearly every message.
      initialState: s.initialState.bind(s),
      entries: s.entries.bind(s),
      term: s.term.bind(s),
      firstIndex: s.firstIndex.bind(s),
      lastIndex: s.lastIndex.bind(s),
      snapshot: () => {
        const stored = s.snapshot();
        if (stored.data.length > 0 && sameConf(stored.meta.conf, this.#conf)) return stored;
        this.#o.fsm.sync();
        const fresh = this.#takeSnapshot();
        s.saveSnapshot(fresh, -1);
        return fresh;
      },
    };
  }

  #takeSnapshot(): Snapshot {
    const index = this.#o.fsm.appliedIndex;
    return {
      meta: { index, term: this.#o.storage.term(index), conf: cloneConf(this.#conf) },
      data: this.#o.fsm.snapshot(),
    };
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#node.tick();
    this.#kick();
  }

  /** Feeds messages from peers. */
  receive(messages: Message[]): void {
    if (this.#stopped) return;
    for (const m of messages) {
      try {
        this.#node.step(m);
      } catch (e) {
        this.#o.log.debug("Raft dropped a message", {
          type: m.type,
          from: m.from,
          err: e instanceof Error ? e.message : String(e),
        });
      }
    }
    this.#kick();
  }

  /** Schedules processing of what the core has ready (coalesced). */
  #kick(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    this.#clock.defer(this.#run);
  }

  /** The deferred round of processing (one closure for all of them). */
  #run = (): void => {
    this.#scheduled = false;
    this.#process();
  };

  #process(): void {
    if (this.#stopped || this.#failed || this.#writing) return;
    try {
      while (!this.#writing && this.#node.hasReady()) this.#handle(this.#node.ready());
    } catch (e) {
      // A write that fails must stop this member rather than let it diverge.
      this.#fail(e instanceof Error ? e : new Error(String(e)));
    }
  }

  #handle(rd: Ready): void {
    if (rd.hardState) this.#term = rd.hardState.term;
    if (rd.softState) this.#onSoftState(rd.softState.lead, rd.softState.role === "leader");
    const before = this.#o.storage.hardState;
    // A leader may send its entries before its own write (Raft thesis §10.2.1, as etcd's server
    // does), so that its fsync and its followers' overlap: it counts itself toward a commit only
    // once its write is durable, since answers stepped meanwhile show (commit, apply, tell)
    // only in the next Ready. Its term and vote are durable since its campaign; anything else
    // waits for the write.
    const early = this.#isLeader && !rd.snapshot && rd.messages.length > 0 &&
      (!rd.hardState || (rd.hardState.term === before.term && rd.hardState.vote === before.vote));
    if (early) this.#o.send(rd.messages);
    // A Ready is a PersistBatch (its other fields are not read). A leader's write is made
    // durable off the event loop, which meanwhile reads requests and steps messages into the
    // core: what they make ready waits for the next Ready, taken once this one is durable, sent,
    // applied and advanced (as if they had come after a synchronous write). Its fsync overlaps
    // its followers' round trip, so the later wake-up costs no commit anything. A follower's
    // write is on the commit's path itself: the thread hop there cost one client's writes
    // 25-35% (bench runs interleaved), so it writes synchronously.
    const storage = this.#o.storage;
    const writing = this.#isLeader && storage.persistAsync
      ? storage.persistAsync(rd)
      : (storage.persist(rd), null);
    if (writing) {
      this.#writing = true;
      writing.then(() => {
        this.#writing = false;
        if (this.#stopped || this.#failed) return;
        try {
          this.#afterPersist(rd, early);
        } catch (e) {
          this.#fail(e instanceof Error ? e : new Error(String(e)));
          return;
        }
        this.#process();
      }, (e) => {
        this.#writing = false;
        if (!this.#stopped && !this.#failed) this.#fail(e instanceof Error ? e : new Error(String(e)));
      });
      return;
    }
    this.#afterPersist(rd, early);
  }

  /** The rest of a Ready once its write is durable: restore, send, apply, advance. */
  #afterPersist(rd: Ready, early: boolean): void {
    if (rd.snapshot && rd.snapshot.data.length > 0) {
      this.#o.fsm.restore(rd.snapshot.data);
      // The core's configuration, restored from the snapshot: what observers are told is what
      // the core counts votes and acks with.
      this.#conf = this.#node.confState();
      this.#notify(() => this.#o.onConfState?.(this.#conf));
    }
    if (this.#isLeader && rd.entries.length > 0 && this.#readyIndex === Infinity) {
      this.#readyIndex = rd.entries[rd.entries.length - 1]!.index;
    }
    if (!early && rd.messages.length > 0) this.#o.send(rd.messages);
    for (const e of rd.committedEntries) this.#apply(e);
    for (const rs of rd.readStates) this.#onReadState(rs.index, rs.ctx);
    this.#node.advance(rd);
    this.#afterApply();
    this.#maybeSnapshot();
  }

  #onSoftState(lead: number, isLeader: boolean): void {
    const was = this.#isLeader;
    this.#isLeader = isLeader;
    if (isLeader && !was) this.#readyIndex = Infinity;
    if (!isLeader) this.#readyIndex = Infinity;
    if (lead !== this.#lead) {
      this.#lead = lead;
      // Read-index requests sent to the old leader will never be answered: ask the new one.
      if (lead !== 0 && !(was && !isLeader)) {
        for (const ctx of this.#reads.keys()) this.#node.readIndex(ctx);
      }
      this.#o.log.info("Raft leader changed", { leader: lead, term: this.#term, self: this.id });
      leaderChanges.inc();
      this.#notify(() => this.#o.onLeader?.(lead, this.#term));
    }
    if (was && !isLeader) {
      // Reads waiting on a read index from this leader will never be answered.
      for (const [ctx, r] of this.#reads) {
        this.#clock.clear(r.timer);
        r.d.reject(refuse.notLeader(lead));
        this.#reads.delete(ctx);
      }
    }
  }

  /** Runs an observer's callback; its failure is its own and must not stop Raft. */
  #notify(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.#o.log.warn("Raft observer failed", { err: e instanceof Error ? e.message : String(e) });
    }
  }

  #apply(e: Entry): void {
    if (e.type === "conf") {
      const cc = JSON.parse(e.data) as ConfChange;
      this.#conf = this.#node.applyConfChange(cc);
      this.#o.fsm.applyEntry(e.index, e.term, "");
      this.#notify(() => this.#o.onConfState?.(this.#conf));
      this.#settle(this.#confWaiters, e, () => cloneConf(this.#conf));
    } else {
      const outcomes = this.#o.fsm.applyEntry(e.index, e.term, e.data);
      this.#settle(this.#waiters, e, () => ({ index: e.index, outcomes }));
    }
  }

  /** Answers whoever waits on entry e (most entries have no waiter here: `result` is lazy). */
  #settle<T>(waiters: Map<number, Waiter<T>>, e: Entry, result: () => T): void {
    if (waiters.size === 0) return;
    const w = waiters.get(e.index);
    if (!w) return;
    waiters.delete(e.index);
    this.#clock.clear(w.timer);
    if (w.term === e.term) w.d.resolve(result());
    else w.d.reject(refuse.leadershipChanged());
  }

  #afterApply(): void {
    const applied = this.#o.fsm.appliedIndex;
    if (this.#applyWaiters.length > 0) {
      const still: ApplyWaiter[] = [];
      for (const w of this.#applyWaiters) w.index <= applied ? w.d.resolve() : still.push(w);
      this.#applyWaiters = still;
    }
    if (this.#isLeader && applied >= this.#readyIndex && this.#leaderWaiters.length > 0) {
      for (const d of this.#leaderWaiters.splice(0)) d.resolve();
    }
  }

  #maybeSnapshot(): void {
    const applied = this.#o.fsm.appliedIndex;
    if (applied - this.#o.storage.snapshotIndex < this.#o.snapshotEvery) return;
    this.#o.fsm.sync();
    this.#o.storage.saveSnapshot(this.#takeSnapshot(), applied - this.#o.keepEntries);
    this.#o.log.debug("Raft snapshot taken", { index: applied, first: this.#o.storage.firstIndex() });
  }

  /** Forces a snapshot and compaction now (tests, and before a member is known to lag). */
  snapshotNow(keepEntries = 0): void {
    this.#o.fsm.sync();
    this.#o.storage.saveSnapshot(this.#takeSnapshot(), this.#o.fsm.appliedIndex - keepEntries);
  }

  #fail(e: Error): void {
    this.#failed = e;
    this.#o.log.error("Raft stopped after a failure: this member no longer serves the database", {
      err: e.message,
    });
    this.#reject(() => refuse.failed(e), () => refuse.failedInFlight(e));
    this.stop();
    this.#o.onFail?.(e);
  }

  /**
   * Settles every waiter with the error `why` makes (once, and only if someone waits). A
   * proposal's waiter gets `proposalWhy`'s when given: whether a change in flight was made is not
   * known, and its caller must be told so.
   */
  #reject(why: () => Error, proposalWhy: () => Error = why): void {
    let e: Error | undefined, pe: Error | undefined;
    const err = () => (e ??= why());
    const proposalErr = () => (pe ??= proposalWhy());
    for (const m of [this.#waiters, this.#confWaiters]) {
      for (const w of m.values()) {
        this.#clock.clear(w.timer);
        w.d.reject(proposalErr());
      }
      m.clear();
    }
    for (const r of this.#reads.values()) {
      this.#clock.clear(r.timer);
      r.d.reject(err());
    }
    this.#reads.clear();
    for (const d of this.#pendingReads.splice(0)) d.reject(err());
    for (const d of this.#leaderWaiters.splice(0)) d.reject(err());
    for (const w of this.#applyWaiters.splice(0)) w.d.reject(err());
  }

  // Consensus (what lib/db's GlobalDB needs)

  isLeader(): boolean {
    return this.#isLeader && !this.#failed && !this.#stopped;
  }

  /** The leader's raft id, 0 when none is known. */
  get leader(): number {
    return this.#lead;
  }

  get term(): number {
    return this.#term;
  }

  /** True once stopped (gracefully, or after a failure): it never runs again. */
  get stopped(): boolean {
    return this.#stopped;
  }

  get failed(): Error | null {
    return this.#failed;
  }

  /** The configuration as of the last applied entry. */
  get conf(): ConfState {
    return cloneConf(this.#conf);
  }

  leaderReady(): Promise<void> {
    const closed = this.#closed();
    if (closed) return Promise.reject(closed);
    if (!this.#isLeader) return Promise.reject(refuse.notLeader(this.#lead));
    if (this.#o.fsm.appliedIndex >= this.#readyIndex) return Promise.resolve();
    const d = Promise.withResolvers<void>();
    this.#leaderWaiters.push(d);
    return d.promise;
  }

  #waitFor<T>(map: Map<number, Waiter<T>>, index: number, term: number): Promise<T> {
    const d = Promise.withResolvers<T>();
    const timer = this.#clock.setTimeout(() => {
      map.delete(index);
      d.reject(refuse.commitTimeout());
    }, this.#o.proposalTimeoutMs);
    map.set(index, { term, d, timer });
    return d.promise;
  }

  /** Resolves once the entry is applied here, with what the state machine returned for it. */
  propose(data: string): Promise<{ index: number; outcomes: R }> {
    const closed = this.#closed();
    if (closed) return Promise.reject(closed);
    const r = this.#node.propose(data);
    if (!r.ok) {
      return Promise.reject(
        r.reason === "not-leader" ? refuse.notLeader(r.leader) : refuse.proposal(r.reason),
      );
    }
    const p = this.#waitFor(this.#waiters, r.index, r.term);
    this.#kick();
    const t = this.#clock.now();
    void p.then(() => commitSeconds.observe({}, (this.#clock.now() - t) / 1000), () => {});
    return p;
  }

  /** Proposes a membership change and resolves with the configuration once it is applied. */
  async changeMembership(cc: ConfChange): Promise<ConfState> {
    const closed = this.#closed();
    if (closed) throw closed;
    const r = this.#node.proposeConfChange(cc);
    if (!r.ok) {
      throw r.reason === "not-leader" ? refuse.notLeader(r.leader) : refuse.membershipChange(r.reason);
    }
    const p = this.#waitFor(this.#confWaiters, r.index, r.term);
    this.#kick();
    return await p;
  }

  waitApplied(index: number): Promise<void> {
    if (this.#o.fsm.appliedIndex >= index) return Promise.resolve();
    const closed = this.#closed();
    if (closed) return Promise.reject(closed);
    const d = Promise.withResolvers<void>();
    this.#applyWaiters.push({ index, d });
    return d.promise;
  }

  /**
   * Linearizable read barrier: a read index confirmed by a quorum (asked of the leader when this
   * member follows), then this member's state machine catches up to it. Reads that arrive while
   * one read index is in flight share the next one.
   */
  readBarrier(): Promise<void> {
    const closed = this.#closed();
    if (closed) return Promise.reject(closed);
    const d = Promise.withResolvers<void>();
    this.#pendingReads.push(d);
    if (!this.#readInFlight) void this.#runReads();
    return d.promise;
  }

  async #runReads(): Promise<void> {
    this.#readInFlight = true;
    try {
      while (this.#pendingReads.length > 0) {
        const batch = this.#pendingReads.splice(0);
        try {
          const index = await this.#readIndex();
          await this.waitApplied(index);
          for (const d of batch) d.resolve();
        } catch (e) {
          for (const d of batch) d.reject(e);
        }
      }
    } finally {
      this.#readInFlight = false;
    }
  }

  #readIndex(): Promise<number> {
    const closed = this.#closed();
    if (closed) return Promise.reject(closed);
    if (!this.#lead) return Promise.reject(refuse.notLeader(0));
    const ctx = `${this.id}-${this.#readTag}-${++this.#readSeq}`;
    const d = Promise.withResolvers<number>();
    const timer = this.#clock.setTimeout(() => {
      this.#reads.delete(ctx);
      d.reject(refuse.readTimeout());
    }, this.#o.readTimeoutMs);
    this.#reads.set(ctx, { d, timer });
    this.#node.readIndex(ctx);
    this.#kick();
    return d.promise;
  }

  #onReadState(index: number, ctx: string): void {
    const r = this.#reads.get(ctx);
    if (!r) return;
    this.#reads.delete(ctx);
    this.#clock.clear(r.timer);
    r.d.resolve(index);
  }

  /**
   * Hands leadership to the most up-to-date voter (or `to`: the simulator's pick) and waits (up to timeoutMs) until it leads:
   * a graceful stop of the leader costs the cluster no election timeout.
   */
  async transferLeadership(timeoutMs = 2_000, to?: number): Promise<boolean> {
    if (!this.#isLeader) return true;
    const st = this.#node.status();
    const candidates = to === undefined ? this.#conf.voters.filter((v) => v !== this.id) : [to];
    if (candidates.length === 0) return false;
    const progress = (st as { progress?: Record<number, { match: number }> }).progress ?? {};
    candidates.sort((a, b) => (progress[b]?.match ?? 0) - (progress[a]?.match ?? 0));
    this.#node.transferLeader(candidates[0]!);
    this.#kick();
    const deadline = this.#clock.now() + timeoutMs;
    while (this.#clock.now() < deadline) {
      if (!this.#isLeader && this.#lead !== 0 && this.#lead !== this.id) return true;
      await new Promise((r) => this.#clock.setTimeout(() => r(undefined), 5));
    }
    return false;
  }

  /** Makes this member campaign now (a lone voter after recovery, tests). */
  campaign(): void {
    this.#node.campaign();
    this.#kick();
  }

  reportUnreachable(id: number): void {
    if (this.#stopped) return;
    this.#node.reportUnreachable(id);
  }

  /** The transport opened a connection to peer `id`. */
  peerReachable(id: number): void {
    if (this.#stopped) return;
    this.#node.peerReachable(id);
    this.#kick();
  }

  /** The transport's open connection to peer `id` closed (its process may be gone). */
  peerLost(id: number): void {
    if (this.#stopped) return;
    this.#node.leaderLost(id);
  }

  /** A snapshot of the core's state for status pages. */
  status(): ReturnType<RawNode["status"]> {
    return this.#node.status();
  }

  /** Why nothing can wait on this driver any more (failed or stopped), or null while it runs. */
  #closed(): Error | null {
    if (this.#failed) {
      return refuse.failed(this.#failed);
    }
    if (this.#stopped) return refuse.shuttingDown();
    return null;
  }

  /**
   * Stops the ticker and settles everything pending: nothing waits on a stopped driver, and
   * whatever asks it later is refused at once.
   */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#clock.clear(this.#ticker);
    this.#reject(refuse.shuttingDown, refuse.stoppedInFlight);
  }
}
