import type { SqlValue } from "./sqlite.ts";

/**
 * One SQL statement with bound parameters, as replicated. Every time and random value is already
 * a parameter: the proposer fixed it, so applying is deterministic on every member.
 */
export interface Stmt {
  sql: string;
  params: SqlValue[];
}

/**
 * Who sent a forwarded transaction, for exactly-once (Raft thesis §6.3): the member's session,
 * the transaction's sequence number in it, and the lowest sequence number whose answer the
 * member still waits for (the state machine may forget the outcomes below it).
 */
export interface SessionRef {
  id: string;
  seq: number;
  low: number;
}

/** A forwarded transaction's session in a batch, with the result its first run computed. */
export interface BatchSession extends SessionRef {
  /** The transaction's result as the leader computed it (JSON): what a duplicate is answered. */
  r?: unknown;
}

/**
 * The payload of one Raft log entry for the global database: the write statements of one or
 * more transactions (group commit), each applied in its own savepoint, in order. Version 2 adds
 * client sessions: `s[i]` names the session of `txs[i]` (null for the leader's own), and `open`
 * the sessions this entry opens. A member of an older build refuses version 2 entries (and
 * stops) rather than apply a duplicate it cannot recognise.
 */
export interface Batch {
  v: 1 | 2;
  txs: Stmt[][];
  s?: (BatchSession | null)[];
  open?: string[];
}

/** Encodes a batch as the entry's data (version 1 unless it carries sessions). */
export function encodeBatch(txs: Stmt[][], sessions?: (BatchSession | null)[], open?: string[]): string {
  const withSessions = sessions?.some((s) => s !== null) ?? false;
  if (!withSessions && !open?.length) return JSON.stringify({ v: 1, txs } satisfies Batch);
  const b: Batch = { v: 2, txs };
  if (withSessions) b.s = sessions;
  if (open?.length) b.open = open;
  return JSON.stringify(b);
}

/** Decodes entry data; throws if it is not a batch of a version this build knows. */
export function decodeBatch(data: string): Batch {
  const b = JSON.parse(data) as Batch;
  if ((b?.v !== 1 && b?.v !== 2) || !Array.isArray(b.txs)) {
    throw new Error(
      "Invalid database log entry: not a version 1 or 2 batch (is this member older than the leader?)",
    );
  }
  return b;
}

// SQL that would read the applying member's clock or randomness: such values must be bound
// parameters chosen by the proposer (rqlite's "non-deterministic functions" problem).
const NON_DETERMINISTIC =
  /\b(random|randomblob|changes|last_insert_rowid|total_changes)\s*\(|\bcurrent_(timestamp|time|date)\b|'now'/i;

/** Throws if a write statement is not deterministic to replay. */
export function assertDeterministic(sql: string): void {
  if (NON_DETERMINISTIC.test(sql)) {
    throw new Error(
      `Statement is not deterministic to replicate: bind time and random values as parameters instead: ${sql}`,
    );
  }
}
