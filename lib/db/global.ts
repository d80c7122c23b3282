import { StatusError, unavailable } from "../util/mod.ts";
import { encodeBatch, type Stmt } from "./batch.ts";
import type { GlobalFsm, TxOutcome } from "./fsm.ts";
import type { ReadTx, TxDef } from "./tx.ts";

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
}

/** Sends a named transaction to the leader; resolves with its result and the entry's index. */
export type Forwarder = (name: string, args: unknown) => Promise<{ result: unknown; index: number }>;

interface Pending {
  def: TxDef<unknown, unknown>;
  args: unknown;
  resolve: (v: { result: unknown; index: number }) => void;
  reject: (e: unknown) => void;
}

/** Largest number of transactions grouped into one log entry. */
const MAX_GROUP = 256;

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
  #busy = false;
  #clock: () => Date;

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

  /** Runs a transaction on the leader and resolves with its result once this member has applied it. */
  async run<A, R>(def: TxDef<A, R>, args: A): Promise<R> {
    if (this.#consensus.isLeader()) {
      return (await this.execute(def as TxDef<unknown, unknown>, args)).result as R;
    }
    if (!this.#forward) throw unavailable("No database leader is known: the cluster may have lost quorum");
    const { result, index } = await this.#forward(def.name, args);
    // Read-your-writes on this member: wait until the entry is applied here too.
    await this.#consensus.waitApplied(index);
    return result as R;
  }

  /** Leader side of run(): queues the transaction for the next group. */
  execute(def: TxDef<unknown, unknown>, args: unknown): Promise<{ result: unknown; index: number }> {
    if (!this.#consensus.isLeader()) {
      return Promise.reject(new StatusError(503, "Not the database leader"));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ def, args, resolve, reject });
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
    const executed = this.#fsm.execute(group.map((p) => ({ def: p.def, args: p.args })), now);
    const writers: { p: Pending; result: unknown }[] = [];
    const txs: Stmt[][] = [];
    const readers: { p: Pending; result: unknown }[] = [];
    executed.forEach((x, i) => {
      const p = group[i]!;
      if (!x.ok) p.reject(x.error);
      else if (x.stmts.length === 0) readers.push({ p, result: x.result });
      else {
        writers.push({ p, result: x.result });
        txs.push(x.stmts);
      }
    });
    if (txs.length === 0) {
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
      const { index, outcomes } = await this.#consensus.propose(encodeBatch(txs));
      writers.forEach((w, i) => {
        const o = outcomes[i];
        if (o && !o.ok) w.p.reject(new StatusError(500, `Failed applying transaction: ${o.error}`));
        else w.p.resolve({ result: w.result, index });
      });
      for (const r of readers) r.p.resolve({ result: r.result, index });
    } catch (e) {
      for (const w of writers) w.p.reject(e);
      for (const r of readers) r.p.reject(e);
    }
  }

  /**
   * Reads the global database. Linearizable by default (a read index from the leader);
   * `stale: true` reads this member's state as it is, for callers that say they can.
   */
  async read<R>(fn: (r: ReadTx) => R, options: { stale?: boolean } = {}): Promise<R> {
    if (!options.stale) await this.#consensus.readBarrier();
    return this.#fsm.read(fn);
  }

  /** Reads local state now, without any barrier (heartbeat-driven caches, status pages). */
  readStale<R>(fn: (r: ReadTx) => R): R {
    return this.#fsm.read(fn);
  }
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
