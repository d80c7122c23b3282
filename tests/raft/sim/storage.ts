/**
 * A simulated member's disk: what survives a crash. The driver persists a Ready's snapshot,
 * entries and hard state here and nothing else is durable, so a crash that comes before a
 * persist loses exactly the unsynced part. Written for the simulator rather than reusing the
 * core's MemoryStorage, so that the core is tested against an independent reading of the
 * Storage contract; the driver's LogStorage conformance suite runs against it as against the
 * SQLite store (storage_test.ts).
 * @module
 */
import {
  CompactedError,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
  type SnapshotMeta,
  UnavailableError,
} from "../../../lib/raft/types.ts";
import type { LogStorage, PersistBatch } from "../../../lib/driver/log_storage.ts";

const copyConf = (c: ConfState): ConfState => ({
  voters: [...c.voters],
  standbys: [...c.standbys],
  spares: [...c.spares],
});

export class SimStorage implements LogStorage {
  hardState: HardState = { term: 0, vote: 0, commit: 0 };
  /** The latest snapshot; its index is at or above `offset`. */
  snap: Snapshot;
  /** Entries after `offset`; the entry at `offset` itself is compacted, only its term is kept. */
  private log: Entry[] = [];
  private offset = 0;
  private offsetTerm = 0;

  constructor(conf: ConfState, data: Uint8Array) {
    this.snap = { meta: { index: 0, term: 0, conf: copyConf(conf) }, data };
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: copyConf(this.snap.meta.conf) };
  }

  entries(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    if (lo <= this.offset) throw new CompactedError(lo, this.offset + 1);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.log[i - this.offset - 1]!;
      bytes += e.data.length;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  term(index: number): number {
    if (index === this.offset) return this.offsetTerm;
    if (index < this.offset) throw new CompactedError(index, this.offset + 1);
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    return this.log[index - this.offset - 1]!.term;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.log.length;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  get snapshotMeta(): SnapshotMeta {
    return this.snap.meta;
  }

  get snapshotIndex(): number {
    return this.snap.meta.index;
  }

  /** A Ready's writes, in the order a real disk applies them (see LogStorage.persist). */
  persist(b: PersistBatch): void {
    if (b.snapshot) {
      this.applySnapshot(b.snapshot);
      if (this.hardState.commit < b.snapshot.meta.index) {
        this.hardState = { ...this.hardState, commit: b.snapshot.meta.index };
      }
    }
    if (b.entries.length > 0) this.append(b.entries);
    if (b.hardState) this.hardState = { ...b.hardState };
  }

  saveSnapshot(s: Snapshot, compactTo: number): void {
    this.createSnapshot(s.meta.index, s.meta.conf, s.data, compactTo);
  }

  /** Entries replace any suffix they conflict with; those at or below the offset are already in a snapshot. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const keep = entries.filter((e) => e.index > this.offset);
    if (keep.length === 0) return;
    const first = keep[0]!.index;
    if (first > this.lastIndex() + 1) {
      throw new Error(`append leaves a gap: entry ${first} after last index ${this.lastIndex()}`);
    }
    this.log.length = first - this.offset - 1;
    for (const e of keep) this.log.push({ index: e.index, term: e.term, type: e.type, data: e.data });
  }

  /** A received snapshot replaces the whole log (a follower catching up). */
  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index < this.snap.meta.index) {
      throw new Error(
        `snapshot at ${snap.meta.index} is older than the one on disk (${this.snap.meta.index})`,
      );
    }
    this.snap = { meta: { ...snap.meta, conf: copyConf(snap.meta.conf) }, data: snap.data };
    this.log = [];
    this.offset = snap.meta.index;
    this.offsetTerm = snap.meta.term;
  }

  /** A local snapshot of the state machine at `index` (applied), then compaction up to `compactTo`. */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array, compactTo: number): void {
    if (index <= this.snap.meta.index) return;
    this.snap = { meta: { index, term: this.term(index), conf: copyConf(conf) }, data };
    this.compact(Math.min(compactTo, index));
  }

  compact(index: number): void {
    if (index <= this.offset) return;
    if (index > this.lastIndex()) throw new Error(`compact ${index} past last index ${this.lastIndex()}`);
    this.offsetTerm = this.term(index);
    this.log = this.log.slice(index - this.offset);
    this.offset = index;
  }
}
