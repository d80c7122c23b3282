import type { BatchSession, SessionRef } from "./batch.ts";
import type { StatementCache } from "./tx.ts";

/**
 * Client sessions of the replicated state machine (Raft thesis §6.3): a member that forwards
 * transactions to the leader opens a session, numbers each transaction in it, and may then send
 * a transaction again (to the same leader or the next) without its effects being applied twice.
 * The tables live in the global database and change only when entries are applied, in the same
 * SQLite transaction as the entry's effects, so every member holds the same sessions.
 */
export const SESSIONS_SCHEMA = `CREATE TABLE IF NOT EXISTS raft_sessions (
  id TEXT PRIMARY KEY NOT NULL,
  opened INTEGER NOT NULL,
  used INTEGER NOT NULL,
  low INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS raft_session_outcomes (
  session TEXT NOT NULL REFERENCES raft_sessions (id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  PRIMARY KEY (session, seq)
) WITHOUT ROWID`;

/**
 * A session unused for this many entries is forgotten. Counted in log entries, never by any
 * member's clock, so that every member forgets it at the same entry. A member only sends a
 * transaction again for a few seconds; 100,000 entries take minutes even at full write speed.
 */
export const SESSION_EXPIRY_ENTRIES = 100_000;

/** Expired sessions are removed when the applied index is a multiple of this. */
export const SESSION_SWEEP_EVERY = 1_000;

/** What a transaction first came to, as its duplicates are answered. */
export type StoredOutcome =
  | { ok: true; result?: unknown; index: number }
  | { ok: false; error: string; index: number };

/**
 * The sessions an entry's transactions used so far, by id: the stored low, the highest low a
 * recorded transaction sent (`raised`), and whether one was recorded (the session was used).
 */
export type EntrySessions = Map<string, { low: number; raised: number; used?: boolean }>;

/** What the table says of a transaction about to be applied. */
export type SessionCheck =
  | { kind: "new" }
  | { kind: "duplicate"; outcome: StoredOutcome }
  | { kind: "refused"; error: string };

/** Message of a transaction whose session the state machine does not know (expired or never opened). */
export const UNKNOWN_SESSION = "Unknown database client session";

/** The session tables, read and written on the state machine's connection. */
export class SessionTable {
  #cache: StatementCache;

  constructor(cache: StatementCache) {
    this.#cache = cache;
  }

  /** Opens a session (idempotent: opening it again, a duplicate, changes nothing). */
  open(id: string, index: number): void {
    this.#cache.get("INSERT OR IGNORE INTO raft_sessions (id, opened, used, low) VALUES (?, ?, ?, 1)").run(
      id,
      index,
      index,
    );
  }

  /** Whether a session is open. */
  has(id: string): boolean {
    return this.#cache.get("SELECT 1 FROM raft_sessions WHERE id = ?").get(id) !== undefined;
  }

  /**
   * Decides whether a transaction of a session is new, a duplicate, or must be refused. Within
   * an entry being applied, `entry` holds what its earlier transactions did to their sessions
   * (record() writes the sessions' rows once, at the entry's end: finish()).
   */
  check(ref: SessionRef, entry?: EntrySessions): SessionCheck {
    let s = entry?.get(ref.id);
    if (!s) {
      const row = this.#cache.get("SELECT low FROM raft_sessions WHERE id = ?").get(ref.id) as
        | { low: number }
        | undefined;
      if (!row) {
        return {
          kind: "refused",
          error: `${UNKNOWN_SESSION} ${ref.id}: it expired or was never opened; the change was not made`,
        };
      }
      s = { low: row.low, raised: 0 };
      entry?.set(ref.id, s);
    }
    // The sender said it had the answers below this already: it never sends those again. (The
    // outcomes below the stored low are gone; those below a low raised earlier in this entry
    // are removed at its end, and refused here just the same.)
    if (ref.seq < Math.max(s.low, s.raised)) {
      return {
        kind: "refused",
        error: `Transaction ${ref.seq} of session ${ref.id} was already answered and forgotten`,
      };
    }
    const row = this.#cache.get(
      "SELECT idx, outcome FROM raft_session_outcomes WHERE session = ? AND seq = ?",
    )
      .get(ref.id, ref.seq) as { idx: number; outcome: string } | undefined;
    if (row) return { kind: "duplicate", outcome: { ...JSON.parse(row.outcome), index: row.idx } };
    return { kind: "new" };
  }

  /**
   * Records what a transaction came to. The session is marked used at this index, and the
   * outcomes below the lowest sequence number the member still waits for forgotten, once for
   * the whole entry (finish()): per transaction, that was two more statements for each
   * forwarded write on every member, where an entry carries several of one member's.
   */
  record(
    ref: BatchSession,
    index: number,
    outcome: { ok: true; result?: unknown } | { ok: false; error: string },
    entry: EntrySessions,
  ): void {
    this.#cache.get("INSERT INTO raft_session_outcomes (session, seq, idx, outcome) VALUES (?, ?, ?, ?)").run(
      ref.id,
      ref.seq,
      index,
      JSON.stringify(outcome),
    );
    const s = entry.get(ref.id)!; // check() came first
    s.raised = Math.max(s.raised, ref.low);
    s.used = true;
  }

  /** Writes what an entry's transactions did to their sessions (record()). */
  finish(index: number, entry: EntrySessions): void {
    for (const [id, s] of entry) {
      if (!s.used) continue;
      this.#cache.get("UPDATE raft_sessions SET used = ?, low = MAX(low, ?) WHERE id = ?").run(
        index,
        s.raised,
        id,
      );
      this.#cache.get("DELETE FROM raft_session_outcomes WHERE session = ? AND seq < ?").run(id, s.raised);
    }
  }

  /** Forgets sessions unused since before index (their outcomes go with them). */
  expire(before: number): number {
    return Number(this.#cache.get("DELETE FROM raft_sessions WHERE used < ?").run(before).changes);
  }
}

/**
 * The sending side of a session, on the member that forwards: it numbers transactions and
 * knows the lowest one still waiting for an answer. A new id is drawn whenever the session is
 * opened again (after it expired), so that an old duplicate can never land in a new session.
 */
export class ClientSession {
  #id = "";
  #next = 1;
  #waiting = new Set<number>();

  /** The session's id ("" until opened). */
  get id(): string {
    return this.#id;
  }

  /** Starts a new session: a fresh random id (128 bits), numbering from 1. */
  renew(): string {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    this.#id = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    this.#next = 1;
    this.#waiting.clear();
    return this.#id;
  }

  /** Numbers a new transaction; it waits until done() is called with its number. */
  next(): number {
    const seq = this.#next++;
    this.#waiting.add(seq);
    return seq;
  }

  /** The transaction has its answer (or was given up): its outcome may be forgotten. */
  done(seq: number): void {
    this.#waiting.delete(seq);
  }

  /** The lowest sequence number still waiting for an answer (the next one when none waits). */
  get low(): number {
    let low = this.#next;
    for (const s of this.#waiting) if (s < low) low = s;
    return low;
  }

  /** A transaction's reference, as sent with it. */
  ref(seq: number): SessionRef {
    return { id: this.#id, seq, low: this.low };
  }
}
