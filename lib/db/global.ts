import { StatusError, unavailable } from "../util/mod.ts";
import { type BatchSession, encodeBatch, type SessionRef, type Stmt } from "./batch.ts";
import type { GlobalFsm, TxOutcome } from "./fsm.ts";
import { UNKNOWN_SESSION } from "./sessions.ts";
import { queryKey, readThrough, type RemoteQuery, type RemoteReader, runOn } from "./remote_read.ts";
import type { ReadTx, Row, TxDef } from "./tx.ts";

/**
 * What the global database needs from consensus. The Raft driver implements it for a cluster;
 * LocalConsensus applies at once, for tests and tools that run without Raft.
 */
export interface Consensus {
  /** True while this member leads and may execute transactions. */
  isLeader(): boolean;
  /**
   * Resolves once this member, as leader, has applied every entry of earlier terms, so that a
   * transaction executed now sees all committed state.
   */
  leaderReady(): Promise<void>;
  /**
   * Proposes an entry and resolves with its outcomes once it is applied locally. Rejects with a
   * StatusError 503 when it will never be applied (leadership lost before it committed): the
   * caller may then retry safely.
   */
  propose(data: string): Promise<{ index: number; outcomes: TxOutcome[] }>;
  /** Resolves when local state reflects every write committed before the call (read index). */
  readBarrier(): Promise<void>;
  /** Resolves when this member has applied index. */
  waitApplied(index: number): Promise<void>;
  /**
   * Why this member can serve no transaction now (its disk is full), checked before one is
   * forwarded: refused before it leaves, it certainly did not happen.
   */
  unavailable?(): Error | null;
  /** True once this member's consensus has stopped or failed for good. */
  stopped?(): boolean;
  /**
   * False while this member holds no replica (a spare: it is sent no log): it reads through the
   * leader. Absent: always a replica.
   */
  replica?(): boolean;
}

/**
 * Whether a failed transaction certainly did not run because leadership moved: a refusal by a
 * member that does not lead or takes no proposals now (it hands leadership over), or an entry
 * replaced by the next leader's. Sending it to the leader of the moment is then safe. A
 * connection error or a timeout is no such proof.
 */
export function leadershipMoved(e: unknown): boolean {
  return e instanceof StatusError && e.status === 503 &&
    /Not the database leader|No database leader|Leadership changed before the change was committed|Proposal refused: transferring/
      .test(e.message);
}

/** Sends a named transaction to the leader; resolves with its result and the entry's index. */
export type Forwarder = (name: string, args: unknown) => Promise<{ result: unknown; index: number }>;

interface Pending {
  /** A transaction to run, or (null) a client session to open. */
  def: TxDef<unknown, unknown> | null;
  args: unknown;
  session?: SessionRef;
  /** The session to open when def is null. */
  open?: string;
  resolve: (v: { result: unknown; index: number }) => void;
  reject: (e: unknown) => void;
}

function sessionKey(s: SessionRef): string {
  return `${s.id}/${s.seq}`;
}

/** Largest number of transactions grouped into one log entry. */
const MAX_GROUP = 256;

/** Queries a spare keeps answers to for stale reads (its most recent ones). */
const MAX_STALE_QUERIES = 2_000;

/**
 * The global database as the rest of shoal sees it: `run()` a named transaction (serializable,
 * replicated, forwarded to the leader from other members) and `read()` (linearizable by default).
 * Transactions that arrive while an entry is in flight are grouped into the next entry.
 */
export class GlobalDB {
  #fsm: GlobalFsm;
  #consensus: Consensus;
  #forward: Forwarder | undefined;
  #queue: Pending[] = [];
  /** Session transactions queued or in flight here: a copy sent again waits for the first. */
  #inFlight = new Map<string, Promise<{ result: unknown; index: number }>>();
  #busy = false;
  #clock: () => Date;
  /** How a member without a replica reads (the cluster layer knows the leader). */
  #remote: RemoteReader | undefined;
  /** Without a replica: the last answers from the leader to the queries stale reads made. */
  #staleAnswers = new Map<string, Row[]>();
  #staleWanted = new Map<string, RemoteQuery>();
  /**
   * The applied index every answer in #staleAnswers is exact at (-1: unknown, renew at the next
   * chance), and whether a query is wanted that has no answer yet.
   */
  #staleAt = -1;
  #staleNew = false;
  #staleVersion = 0;
  #refreshing: Promise<void> | null = null;
  #refreshAgain = false;

  constructor(
    fsm: GlobalFsm,
    consensus: Consensus,
    options: { forward?: Forwarder; clock?: () => Date } = {},
  ) {
    this.#fsm = fsm;
    this.#consensus = consensus;
    this.#forward = options.forward;
    this.#clock = options.clock ?? (() => new Date());
  }

  /** Sets how followers reach the leader (the cluster layer knows how). */
  setForwarder(forward: Forwarder): void {
    this.#forward = forward;
  }

  /** Sets how a member without a replica reads through the leader. */
  setRemoteReader(remote: RemoteReader): void {
    this.#remote = remote;
  }

  /** Whether reads are answered here: a replica, or no way to read elsewhere. */
  #local(): boolean {
    return !this.#remote || (this.#consensus.replica?.() ?? true);
  }

  /** Runs a transaction on the leader and resolves with its result once this member has applied it. */
  async run<A, R>(def: TxDef<A, R>, args: A): Promise<R> {
    const down = this.#consensus.unavailable?.();
    if (down) throw down;
    if (this.#consensus.isLeader()) {
      try {
        return (await this.execute(def as TxDef<unknown, unknown>, args)).result as R;
      } catch (e) {
        // Leadership moved while it ran here (a hand-over, an election): it did not run, so
        // it follows the leader like a follower's transaction instead of failing.
        if (!this.#forward || !leadershipMoved(e)) throw e;
      }
    }
    if (!this.#forward) throw unavailable("No database leader is known: the cluster may have lost quorum");
    const { result, index } = await this.#forward(def.name, args);
    // A member without a replica reads through the leader, which has applied it; its stale
    // reads too, once the leader's answers to them are renewed (read-your-writes for both).
    if (!this.#local()) {
      await this.refreshStale().catch(() => {/* the write stands; the next heartbeat renews them */});
      return result as R;
    }
    // Read-your-writes on this member: wait until the entry is applied here too. If this
    // member's database stops first (a graceful stop, a failure), the change was still made:
    // nothing can read this member's state any more, so the answer is the leader's.
    await this.#consensus.waitApplied(index).catch((e) => {
      if (!this.#consensus.stopped?.()) throw e;
    });
    return result as R;
  }

  /**
   * Leader side of run(): queues the transaction for the next group. A transaction forwarded
   * with a client session runs at most once: a copy of one already applied is answered with
   * the first outcome, and a copy of one still in flight here waits for it.
   */
  execute(
    def: TxDef<unknown, unknown>,
    args: unknown,
    session?: SessionRef,
  ): Promise<{ result: unknown; index: number }> {
    if (!this.#consensus.isLeader()) {
      return Promise.reject(new StatusError(503, "Not the database leader"));
    }
    if (session) {
      const first = this.#inFlight.get(sessionKey(session));
      if (first) return first;
    }
    const p = new Promise<{ result: unknown; index: number }>((resolve, reject) => {
      this.#queue.push({ def, args, session, resolve, reject });
      if (!this.#busy) void this.#drain();
    });
    if (session) {
      const key = sessionKey(session);
      this.#inFlight.set(key, p);
      const forget = () => this.#inFlight.delete(key);
      p.then(forget, forget);
    }
    return p;
  }

  /** Opens a client session (leader side); resolves once the entry that opens it is applied. */
  openSession(id: string): Promise<void> {
    if (!this.#consensus.isLeader()) {
      return Promise.reject(new StatusError(503, "Not the database leader"));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ def: null, args: null, open: id, resolve: () => resolve(), reject });
      if (!this.#busy) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#queue.length > 0) {
        const group = this.#queue.splice(0, MAX_GROUP);
        await this.#runGroup(group);
      }
    } finally {
      this.#busy = false;
    }
  }

  async #runGroup(group: Pending[]): Promise<void> {
    try {
      await this.#consensus.leaderReady();
    } catch (e) {
      for (const p of group) p.reject(e);
      return;
    }
    if (!this.#consensus.isLeader()) {
      const e = new StatusError(503, "Not the database leader");
      for (const p of group) p.reject(e);
      return;
    }
    const now = this.#clock().toISOString();
    const opens = group.filter((p) => p.def === null);
    const txGroup: Pending[] = [];
    for (const p of group) {
      if (p.def === null) continue;
      const seen = p.session ? this.#fsm.checkSession(p.session) : { kind: "new" as const };
      if (seen.kind === "duplicate") {
        const o = seen.outcome;
        if (o.ok) p.resolve({ result: o.result, index: o.index });
        else p.reject(applyFailed(o.error));
      } else if (seen.kind === "refused") p.reject(new StatusError(503, seen.error));
      else txGroup.push(p);
    }
    const executed = this.#fsm.execute(
      txGroup.map((p) => ({ def: p.def!, args: p.args })),
      now,
    );
    const writers: { p: Pending; result: unknown }[] = [];
    const txs: Stmt[][] = [];
    const sessions: (BatchSession | null)[] = [];
    const readers: { p: Pending; result: unknown }[] = [];
    executed.forEach((x, i) => {
      const p = txGroup[i]!;
      if (!x.ok) p.reject(x.error);
      else if (x.stmts.length === 0) readers.push({ p, result: x.result });
      else {
        writers.push({ p, result: x.result });
        txs.push(x.stmts);
        // The result travels in the entry: the state machine keeps it for duplicates.
        sessions.push(p.session ? { ...p.session, r: x.result } : null);
      }
    });
    if (txs.length === 0 && opens.length === 0) {
      // Nothing to replicate; still confirm leadership so the result is not stale.
      try {
        await this.#consensus.readBarrier();
        for (const r of readers) r.p.resolve({ result: r.result, index: this.#fsm.applied.index });
      } catch (e) {
        for (const r of readers) r.p.reject(e);
      }
      return;
    }
    try {
      const { index, outcomes } = await this.#consensus.propose(
        encodeBatch(txs, sessions, opens.map((p) => p.open!)),
      );
      writers.forEach((w, i) => {
        const o = outcomes[i];
        if (o && !o.ok) {
          w.p.reject(
            o.error.startsWith(UNKNOWN_SESSION) ? new StatusError(503, o.error) : applyFailed(o.error),
          );
        } else if (w.p.session && o) {
          // The first outcome: this run's, or the one a duplicate was skipped for.
          w.p.resolve({ result: o.result, index: o.index ?? index });
        } else w.p.resolve({ result: w.result, index });
      });
      for (const r of readers) r.p.resolve({ result: r.result, index });
      for (const p of opens) p.resolve({ result: null, index });
    } catch (e) {
      for (const w of writers) w.p.reject(e);
      for (const r of readers) r.p.reject(e);
      for (const p of opens) p.reject(e);
    }
  }

  /**
   * Reads the global database. Linearizable by default (a read index from the leader);
   * `stale: true` reads this member's state as it is, for callers that say they can.
   */
  async read<R>(fn: (r: ReadTx) => R, options: { stale?: boolean } = {}): Promise<R> {
    if (!this.#local()) {
      const { value, answers } = await readThrough(fn, this.#remote!, options.stale ?? false);
      // What stale reads asked for, fresher now.
      for (const [k, rows] of answers) if (this.#staleWanted.has(k)) this.#staleAnswers.set(k, rows);
      this.#staleVersion++;
      return value;
    }
    if (!options.stale) await this.#consensus.readBarrier();
    return this.#fsm.read(fn);
  }

  /**
   * Reads local state now, without any barrier (heartbeat-driven caches, status pages). Without a
   * replica, on the leader's last answers to the same queries (refreshStale() renews them); a
   * query never asked before throws a 503 and is fetched, for the next call (warm() waits).
   */
  readStale<R>(fn: (r: ReadTx) => R): R {
    if (this.#local()) return this.#fsm.read(fn);
    const r = runOn(fn, this.#staleAnswers);
    if (r.done) {
      if (r.ok) return r.value;
      throw r.error;
    }
    for (const q of r.missing) this.#want(q);
    this.#staleNew = true;
    void this.refreshStale().catch(() => {/* the next call asks again */});
    throw new StatusError(
      503,
      "This spare has not fetched that from the database leader yet (it keeps no copy): try again",
    );
  }

  #want(q: RemoteQuery): void {
    const k = queryKey(q);
    this.#staleWanted.delete(k);
    this.#staleWanted.set(k, q);
    while (this.#staleWanted.size > MAX_STALE_QUERIES) {
      const oldest = this.#staleWanted.keys().next().value!;
      this.#staleWanted.delete(oldest);
      this.#staleAnswers.delete(oldest);
    }
  }

  /**
   * Changes whenever what readStale() answers without a replica may have (the fsm's version tells
   * it on a replica): for caches of stale reads.
   */
  get staleVersion(): number {
    return this.#staleVersion;
  }

  /**
   * Changes whenever what readStale() answers may have, on a replica (the fsm's version) or not
   * (staleVersion): what is derived from stale reads can be kept until it moves.
   */
  get readVersion(): string {
    return `${this.#fsm.version}/${this.#staleVersion}`;
  }

  /** readVersion for what is derived from one table only (GlobalFsm.tableVersion()). */
  tableReadVersion(table: string): string {
    return `${this.#fsm.tableVersion(table)}/${this.#staleVersion}`;
  }

  /**
   * Without a replica, at each heartbeat: renews the stale answers when the leader's applied index
   * (the heartbeat's) has passed the one they were read at, or a query has none yet. An answer
   * read at index N is still exact while the leader is at N: an idle cluster's spares ask nothing
   * (16 members: every spare fetched all its answers every heartbeat, ~5x the members' traffic
   * at rest and the leader's CPU over its goal).
   */
  renewStale(leaderApplied: number): Promise<void> {
    if (this.#local()) return Promise.resolve();
    // Nothing to renew: a fetch under way (what a stale read just asked for) is still waited for.
    if (!this.#staleNew && leaderApplied <= this.#staleAt) return this.#refreshing ?? Promise.resolve();
    return this.refreshStale();
  }

  /**
   * Without a replica: fetches again every query stale reads made, in one read on the leader
   * (renewStale() calls this when the leader's index moved, so stale reads lag the leader by
   * about a heartbeat). Concurrent calls share one fetch, and one more runs after it for what was
   * asked meanwhile.
   */
  refreshStale(): Promise<void> {
    if (this.#local() || this.#staleWanted.size === 0) return Promise.resolve();
    if (this.#refreshing) {
      this.#refreshAgain = true;
      return this.#refreshing;
    }
    const run = async () => {
      try {
        do {
          this.#refreshAgain = false;
          this.#staleNew = false;
          const qs = [...this.#staleWanted.values()];
          const { rows, applied } = await this.#remote!(qs, true).catch((e) => {
            this.#staleNew = true; // asked again at the next heartbeat, moved or not
            throw e;
          });
          qs.forEach((q, i) => this.#staleAnswers.set(queryKey(q), rows[i] ?? []));
          // Every answer now is from this one read (a query dropped by #want goes with its answer).
          this.#staleAt = applied ?? -1;
          this.#staleVersion++;
        } while (this.#refreshAgain);
      } finally {
        this.#refreshing = null;
      }
    };
    return this.#refreshing = run();
  }

  /**
   * readStale() that waits for the leader's answers when this member has none yet (a spare):
   * for callers that can wait, such as authenticating a request.
   */
  async warm<R>(fn: (r: ReadTx) => R): Promise<R> {
    for (let i = 0;; i++) {
      try {
        return this.readStale(fn);
      } catch (e) {
        if (this.#local() || i >= 8 || !(e instanceof StatusError && e.status === 503)) throw e;
        await this.refreshStale();
      }
    }
  }
}

function applyFailed(error: string): StatusError {
  return new StatusError(500, `Failed applying transaction: ${error}`);
}

/** Consensus of one: every proposal is applied at once. For tools and tests without Raft. */
export class LocalConsensus implements Consensus {
  #fsm: GlobalFsm;
  constructor(fsm: GlobalFsm) {
    this.#fsm = fsm;
  }
  isLeader(): boolean {
    return true;
  }
  leaderReady(): Promise<void> {
    return Promise.resolve();
  }
  propose(data: string): Promise<{ index: number; outcomes: TxOutcome[] }> {
    const index = this.#fsm.applied.index + 1;
    const outcomes = this.#fsm.apply(index, 1, data);
    return Promise.resolve({ index, outcomes });
  }
  readBarrier(): Promise<void> {
    return Promise.resolve();
  }
  waitApplied(): Promise<void> {
    return Promise.resolve();
  }
}
