import type { DatabaseSync, StatementSync } from "node:sqlite";
import { assertDeterministic, type Stmt } from "./batch.ts";
import type { SqlValue } from "./sqlite.ts";

/** A row as node:sqlite returns it. */
export type Row = Record<string, SqlValue>;

/** Read access to the global database, on state that is current for the caller. */
export interface ReadTx {
  /** Runs a SELECT and returns every row. */
  query<T = Row>(sql: string, ...params: SqlValue[]): T[];
  /** Runs a SELECT and returns the first row, if any. */
  get<T = Row>(sql: string, ...params: SqlValue[]): T | undefined;
}

/** Result of one write statement. */
export interface ExecResult {
  changes: number;
  lastInsertRowid: number;
}

/**
 * A serializable read-write transaction on the global database. It runs on the leader; its
 * writes are recorded and replicated as one log entry, so it must be deterministic given the
 * database: take time from `now` and randomness from `random()`, never from the clock.
 */
export interface Tx extends ReadTx {
  /** Runs a write statement (INSERT, UPDATE, DELETE). */
  exec(sql: string, ...params: SqlValue[]): ExecResult;
  /** The transaction's time, fixed by the proposer (ISO 8601, UTC). */
  readonly now: string;
}

/** A named transaction function: the same code on every member, so followers forward it by name. */
export interface TxDef<A, R> {
  readonly name: string;
  readonly fn: (tx: Tx, args: A) => R;
}

const registry = new Map<string, TxDef<unknown, unknown>>();

/**
 * Declares a transaction. The name must be unique: a follower sends (name, args) to the leader,
 * which runs the function registered under that name. Arguments and result must be JSON.
 */
export function defineTx<A, R>(name: string, fn: (tx: Tx, args: A) => R): TxDef<A, R> {
  if (registry.has(name)) throw new Error(`Transaction "${name}" is defined twice`);
  const def: TxDef<A, R> = { name, fn };
  registry.set(name, def as TxDef<unknown, unknown>);
  return def;
}

/** Finds a transaction by the name a follower sent. */
export function lookupTx(name: string): TxDef<unknown, unknown> | undefined {
  return registry.get(name);
}

const READ_ONLY = /^\s*(SELECT|WITH|VALUES)\b/i;

/** Prepared statements of one connection, reused across transactions. */
export class StatementCache {
  #db: DatabaseSync;
  #stmts = new Map<string, StatementSync>();
  constructor(db: DatabaseSync) {
    this.#db = db;
  }
  get(sql: string): StatementSync {
    let s = this.#stmts.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
  }
  clear(): void {
    this.#stmts.clear();
  }
}

/** A ReadTx over a connection. */
export class Reader implements ReadTx {
  constructor(protected readonly cache: StatementCache) {}
  query<T = Row>(sql: string, ...params: SqlValue[]): T[] {
    if (!READ_ONLY.test(sql)) throw new Error(`query() takes a SELECT; use exec() to write: ${sql}`);
    return this.cache.get(sql).all(...params) as T[];
  }
  get<T = Row>(sql: string, ...params: SqlValue[]): T | undefined {
    if (!READ_ONLY.test(sql)) throw new Error(`get() takes a SELECT; use exec() to write: ${sql}`);
    return this.cache.get(sql).get(...params) as T | undefined;
  }
}

/** A Tx that executes on the leader's database and records what it wrote. */
export class RecordingTx extends Reader implements Tx {
  readonly stmts: Stmt[] = [];
  constructor(cache: StatementCache, readonly now: string) {
    super(cache);
  }
  exec(sql: string, ...params: SqlValue[]): ExecResult {
    assertDeterministic(sql);
    const r = this.cache.get(sql).run(...params);
    this.stmts.push({ sql, params });
    return { changes: Number(r.changes), lastInsertRowid: Number(r.lastInsertRowid) };
  }
}
