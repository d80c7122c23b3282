/**
 * What the driver needs of a member's disk: the core's read side (lib/raft's `Storage`) and the
 * writes of the Ready loop. lib/raft_store's SQLite store is the daemon's; the simulator keeps
 * its own in memory, so that a crash there loses exactly what was not persisted. Both pass the
 * one conformance suite, tests/raft/log_storage_suite.ts.
 * @module
 */
import type { Entry, HardState, Snapshot, SnapshotMeta, Storage } from "../raft/mod.ts";

/** What one Ready asks to persist. */
export interface PersistBatch {
  hardState?: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
}

export interface LogStorage extends Storage {
  /** Term, vote and commit as last persisted. */
  readonly hardState: HardState;
  /** The latest snapshot's index, term and configuration (without its bytes). */
  readonly snapshotMeta: SnapshotMeta;
  readonly snapshotIndex: number;
  /**
   * Makes one Ready's snapshot (which replaces the whole log), entries (which replace any
   * suffix they conflict with) and hard state durable, all or nothing: nothing that depends
   * on them may be sent before this returns. Throws when the write failed.
   */
  persist(b: PersistBatch): void;
  /**
   * persist() whose durability may come later: the batch is durable once the promise resolves
   * (null: it already is), and the driver sends nothing that depends on it, applies nothing and
   * takes no other Ready before then. Optional: a store without it is persisted synchronously.
   */
  persistAsync?(b: PersistBatch): Promise<void> | null;
  /**
   * Records a snapshot the state machine took at `s.meta.index` (ignored unless newer than the
   * stored one), then drops entries up to `compactTo` (capped at the snapshot's index), keeping
   * the ones after it for followers a little behind.
   */
  saveSnapshot(s: Snapshot, compactTo: number): void;
}
