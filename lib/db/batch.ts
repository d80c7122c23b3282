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
 * The payload of one Raft log entry for the global database: the write statements of one or
 * more transactions (group commit), each applied in its own savepoint, in order.
 */
export interface Batch {
  v: 1;
  txs: Stmt[][];
}

/** Encodes a batch as the entry's data. */
export function encodeBatch(txs: Stmt[][]): string {
  const b: Batch = { v: 1, txs };
  return JSON.stringify(b);
}

/** Decodes entry data; throws if it is not a batch of this version. */
export function decodeBatch(data: string): Batch {
  const b = JSON.parse(data) as Batch;
  if (b?.v !== 1 || !Array.isArray(b.txs)) {
    throw new Error("Invalid database log entry: not a version 1 batch");
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
