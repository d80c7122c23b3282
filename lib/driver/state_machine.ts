/**
 * What the driver applies committed entries to (hashicorp's FSM shape), `R` being what applying
 * one entry returns to its proposer. lib/db's GlobalFsm implements it for the global database.
 */
export interface StateMachine<R = unknown> {
  /** Index of the last applied entry. */
  readonly appliedIndex: number;
  /**
   * Applies one committed entry; data "" moves the index only (empty and membership entries).
   * Must be deterministic, and must ignore an index it has already applied (replay after a
   * restart). The return value goes back to whoever proposed the entry.
   */
  applyEntry(index: number, term: number, data: string): R;
  /** A consistent copy of the whole state, at appliedIndex. */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot. */
  restore(data: Uint8Array): void;
  /** Makes everything applied durable (before log entries it covers are dropped). */
  sync(): void;
}
