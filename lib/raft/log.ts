/**
 * The Raft log as the core sees it: Storage (durable) followed by Unstable (handed out in a
 * Ready, or about to be). Indexes:
 *
 *   snapshot index = firstIndex - 1  <=  applied <= applying <= committed <= lastIndex
 *
 * `committed` is the highest index known to be committed; `applying` the highest handed to
 * the driver to apply; `applied` the highest the driver reported applied (in advance()).
 * @module
 */
import type { Bugs, Entry, Snapshot, Storage } from "./types.ts";
import { CompactedError, UnavailableError } from "./types.ts";
import { Unstable } from "./log_unstable.ts";
import { isCompacted, isUnavailable, limitSize } from "./util.ts";

export class RaftLog {
  readonly unstable: Unstable;
  committed: number;
  applying: number;
  applied: number;

  /** `bugs` only for applyBeforeCommit (see Bugs). */
  constructor(readonly storage: Storage, applied?: number, private readonly bugs: Bugs = {}) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
    this.applying = first - 1;
    const hs = storage.initialState().hardState;
    if (hs.commit > this.committed) this.committed = Math.min(hs.commit, last);
    if (applied !== undefined && applied > this.applied) {
      this.applied = Math.min(applied, this.committed);
      this.applying = this.applied;
    }
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Term of entry i; throws CompactedError / UnavailableError out of [firstIndex-1, lastIndex]. */
  term(i: number): number {
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    const dummy = this.firstIndex() - 1;
    if (i < dummy) throw new CompactedError(i, dummy + 1);
    if (i > this.lastIndex()) throw new UnavailableError(i, this.lastIndex());
    return this.storage.term(i);
  }

  /**
   * Term of entry i, or undefined out of [firstIndex-1, lastIndex]. Without an exception: every
   * appended entry asks, and building an error's stack cost about 12% of the simulator's time.
   */
  #knownTerm(i: number): number | undefined {
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return undefined;
    try {
      return this.storage.term(i);
    } catch (err) {
      if (isCompacted(err) || isUnavailable(err)) return undefined;
      throw err;
    }
  }

  /** Term of entry i, or 0 when i is out of range. Only for decisions where 0 is safe. */
  termOrZero(i: number): number {
    return this.#knownTerm(i) ?? 0;
  }

  lastTerm(): number {
    return this.termOrZero(this.lastIndex());
  }

  matchTerm(i: number, t: number): boolean {
    return this.#knownTerm(i) === t;
  }

  /** Raft §5.4.1: a log is at least as up to date when its last term is higher, or equal with an index at least as high. */
  isUpToDate(lastIndex: number, term: number): boolean {
    const lt = this.lastTerm();
    return term > lt || (term === lt && lastIndex >= this.lastIndex());
  }

  /** Index of the first entry of `ents` that is new or conflicts with the log; 0 when none. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  /**
   * The largest index at or below `index` whose term is at most `term`: the leader can skip
   * every entry above it when backing up (an etcd-raft optimisation of §5.3).
   */
  findConflictByTerm(index: number, term: number): number {
    const dummy = this.firstIndex() - 1;
    for (let i = Math.min(index, this.lastIndex()); i > dummy; i--) {
      if (this.term(i) <= term) return i;
    }
    return dummy;
  }

  /**
   * Appends `ents` after (index, logTerm) if the log has that entry (§5.3). Returns the new
   * last index covered, or undefined when (index, logTerm) does not match or the entries would
   * overwrite committed ones (a bad message: dropped).
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    let k = 0;
    for (const e of ents) if (e.index !== index + 1 + k++) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) return undefined;
      this.append(ents.slice(ci - index - 1));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    this.unstable.truncateAndAppend(ents.map((e) => ({ ...e })));
    return this.lastIndex();
  }

  /** Raises `committed` to n; ignored when n is not in the log (a bad or stale message). */
  commitTo(n: number): void {
    if (n > this.committed && n <= this.lastIndex()) this.committed = n;
  }

  appliedTo(i: number): void {
    if (i > this.applied) this.applied = i;
    if (i > this.applying) this.applying = i;
  }

  /** Entries from lo to the end, at most maxBytes (but at least one). */
  entries(lo: number, maxBytes?: number): Entry[] {
    if (lo > this.lastIndex()) return [];
    return this.slice(lo, this.lastIndex() + 1, maxBytes);
  }

  /** Entries [lo, hi); throws CompactedError when lo is below the first index. */
  slice(lo: number, hi: number, maxBytes?: number): Entry[] {
    if (lo >= hi) return [];
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError(lo, first);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    let out: Entry[] = [];
    const uoff = this.unstable.offset;
    if (lo < uoff) {
      const stored = this.storage.entries(lo, Math.min(hi, uoff), maxBytes);
      out = limitSize(stored, maxBytes);
      // Storage stopped early for size: do not add unstable entries after a gap.
      if (out.length < Math.min(hi, uoff) - lo) return out;
    }
    if (hi > uoff) out = out.concat(this.unstable.slice(Math.max(lo, uoff), hi));
    return limitSize(out, maxBytes);
  }

  /** Upper bound for applying: with the bug on, entries are applied before they commit. */
  private applyLimit(): number {
    return this.bugs.applyBeforeCommit ? this.lastIndex() : this.committed;
  }

  hasNextCommittedEntries(): boolean {
    if (this.unstable.snapshot) return false;
    const lo = Math.max(this.applying + 1, this.firstIndex());
    return this.applyLimit() >= lo;
  }

  /** Committed entries not yet handed out to apply. */
  nextCommittedEntries(): Entry[] {
    if (this.unstable.snapshot) return [];
    const lo = Math.max(this.applying + 1, this.firstIndex());
    const hi = this.applyLimit() + 1;
    if (hi <= lo) return [];
    return this.slice(lo, hi);
  }

  /** Resets the log to a snapshot from the leader (§7). */
  restore(s: Snapshot): void {
    this.committed = s.meta.index;
    this.unstable.restore(s);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }
}
