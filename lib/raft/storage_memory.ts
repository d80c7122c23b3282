/**
 * Storage kept in memory, for tests and the simulator. The writes (append, applySnapshot,
 * setHardState, setConfState, createSnapshot, compact) are what a driver does with a Ready.
 * @module
 */
import type { ConfState, Entry, HardState, Snapshot, SnapshotMeta, Storage } from "./types.ts";
import { CompactedError, UnavailableError } from "./types.ts";
import { limitSize } from "./util.ts";

function emptyConf(): ConfState {
  return { voters: [], standbys: [], spares: [] };
}

export function cloneConf(c: ConfState): ConfState {
  return { voters: [...c.voters], standbys: [...c.standbys], spares: [...c.spares] };
}

export class MemoryStorage implements Storage {
  private hard: HardState = { term: 0, vote: 0, commit: 0 };
  private conf: ConfState;
  private snap: Snapshot;
  /** ents[0] is a dummy standing for the snapshot's (index, term): never empty. */
  private ents: [Entry, ...Entry[]];

  /** A fresh log; `conf` is the bootstrap configuration (empty for a member that joins). */
  constructor(conf?: ConfState) {
    this.conf = conf ? cloneConf(conf) : emptyConf();
    this.snap = { meta: { index: 0, term: 0, conf: cloneConf(this.conf) }, data: new Uint8Array() };
    this.ents = [{ index: 0, term: 0, type: "normal", data: "" }];
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hard }, confState: cloneConf(this.conf) };
  }

  entries(lo: number, hi: number, maxBytes?: number): Entry[] {
    const off = this.ents[0].index;
    if (lo <= off) throw new CompactedError(lo, off + 1);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    return limitSize(this.ents.slice(lo - off, hi - off), maxBytes).map((e) => ({ ...e }));
  }

  term(index: number): number {
    const off = this.ents[0].index;
    if (index < off) throw new CompactedError(index, off + 1);
    const e = this.ents[index - off];
    if (!e) throw new UnavailableError(index, this.lastIndex());
    return e.term;
  }

  firstIndex(): number {
    return this.ents[0].index + 1;
  }

  lastIndex(): number {
    return this.ents[0].index + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  setHardState(hs: HardState): void {
    this.hard = { ...hs };
  }

  /** The configuration as of the applied index, as returned by RawNode.applyConfChange. */
  setConfState(cs: ConfState): void {
    this.conf = cloneConf(cs);
  }

  /** Appends entries, replacing any conflicting suffix; entries already compacted are skipped. */
  append(entries: readonly Entry[]): void {
    const head = entries[0];
    if (head === undefined) return;
    const first = this.firstIndex();
    const from = Math.max(head.index, first);
    const ents = entries.slice(from - head.index);
    if (ents.length === 0) return;
    const off = from - this.ents[0].index;
    if (off > this.ents.length) {
      throw new Error(`missing log entry: last index is ${this.lastIndex()}, appending at ${from}`);
    }
    this.ents = [this.ents[0], ...this.ents.slice(1, off), ...ents.map((e) => ({ ...e }))];
  }

  /** Replaces the whole log by a snapshot (a follower installing the leader's). */
  applySnapshot(s: Snapshot): void {
    if (s.meta.index <= this.snap.meta.index) {
      throw new Error(
        `snapshot at ${s.meta.index} is out of date (have ${this.snap.meta.index}): apply a newer one`,
      );
    }
    this.snap = { meta: { ...s.meta, conf: cloneConf(s.meta.conf) }, data: s.data };
    this.ents = [{ index: s.meta.index, term: s.meta.term, type: "normal", data: "" }];
    this.conf = cloneConf(s.meta.conf);
  }

  /** Records the state machine's snapshot at `index` (applied), so that the log can then be compacted to it. */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.meta.index) return this.snap;
    if (index > this.lastIndex()) {
      throw new UnavailableError(index, this.lastIndex());
    }
    const meta: SnapshotMeta = { index, term: this.term(index), conf: cloneConf(conf) };
    this.snap = { meta, data };
    return this.snap;
  }

  /** Discards entries before `index`; the snapshot must already cover `index`. */
  compact(index: number): void {
    const off = this.ents[0].index;
    if (index <= off) throw new CompactedError(index, off + 1);
    if (index > this.snap.meta.index) {
      throw new Error(
        `cannot compact to ${index} past the snapshot at ${this.snap.meta.index}: create a snapshot first`,
      );
    }
    const i = index - off;
    const dummy: Entry = { index, term: this.term(index), type: "normal", data: "" };
    this.ents = [dummy, ...this.ents.slice(i + 1)];
  }
}
