/**
 * What a leader knows of one peer's log, and the flow control for sending it entries.
 *
 * ```
 *                 reject / unreachable
 *   +--------------------------------------------+
 *   v                                            |
 * probe --(append accepted)--> replicate --------+
 *   |  ^                                         |
 *   |  +--(snapshot answered or timed out)--+    |
 *   +--(needed entry compacted)----------> snapshot
 * ```
 *
 * probe: one append in flight, then paused until an answer or heartbeat answer.
 * replicate: optimistic pipelining, bounded by the inflight window (messages and bytes).
 * snapshot: nothing is sent until the snapshot is answered.
 * @module
 */
import type { Progress as ProgressView } from "./types.ts";

/** A window of append messages in flight: the last index and the bytes of each. */
export class Inflights {
  private items: { index: number; bytes: number }[] = [];
  private bytesInFlight = 0;
  constructor(readonly maxMsgs: number, readonly maxBytes: number) {}

  add(index: number, bytes: number): void {
    this.items.push({ index, bytes });
    this.bytesInFlight += bytes;
  }

  /** Frees every message whose last index is at or below `index` (they were acknowledged). */
  freeLE(index: number): void {
    for (let head = this.items[0]; head !== undefined && head.index <= index; head = this.items[0]) {
      this.bytesInFlight -= head.bytes;
      this.items.shift();
    }
  }

  freeFirstOne(): void {
    const first = this.items.shift();
    if (first) this.bytesInFlight -= first.bytes;
  }

  full(): boolean {
    return this.items.length >= this.maxMsgs || this.bytesInFlight >= this.maxBytes;
  }

  count(): number {
    return this.items.length;
  }

  bytes(): number {
    return this.bytesInFlight;
  }

  reset(): void {
    this.items = [];
    this.bytesInFlight = 0;
  }
}

export class PeerProgress {
  /** Highest index known to be replicated on the peer. Invariant: match < next. */
  match = 0;
  next: number;
  state: "probe" | "replicate" | "snapshot" = "probe";
  /** Index of the snapshot in flight, in snapshot state. */
  pendingSnapshot = 0;
  /** Ticks spent in snapshot state without an answer. */
  snapshotTicks = 0;
  /** Heard from since the last check-quorum round. */
  recentActive: boolean;
  /** In probe state: an append is in flight, wait for its answer (or a heartbeat's). */
  probeSent = false;
  readonly inflights: Inflights;

  constructor(next: number, maxMsgs: number, maxBytes: number, recentActive = true) {
    this.next = next;
    this.inflights = new Inflights(maxMsgs, maxBytes);
    this.recentActive = recentActive;
  }

  private resetState(state: PeerProgress["state"]): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot the peer has at least the snapshot's entries.
    const next = this.state === "snapshot"
      ? Math.max(this.match + 1, this.pendingSnapshot + 1)
      : this.match + 1;
    this.resetState("probe");
    this.next = next;
  }

  becomeReplicate(): void {
    this.resetState("replicate");
    this.next = this.match + 1;
  }

  becomeSnapshot(index: number): void {
    this.resetState("snapshot");
    this.pendingSnapshot = index;
  }

  /** The peer acknowledged everything up to `n`. False when that was already known. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * The peer rejected an append probing `rejected`; `hint` is its guess of the last index
   * that may match. False when the rejection is stale (answers an older probe).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Account for an append of `entries` entries (`bytes` of data) just sent. */
  sentEntries(entries: number, bytes: number): void {
    if (this.state === "replicate") {
      if (entries > 0) {
        this.next += entries;
        this.inflights.add(this.next - 1, bytes);
      }
    } else if (this.state === "probe") {
      this.probeSent = true;
    }
  }

  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
    }
  }

  view(): ProgressView {
    return { match: this.match, next: this.next, state: this.state, recentActive: this.recentActive };
  }
}
