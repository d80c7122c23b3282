import { DatabaseSync } from "node:sqlite";

/** A value SQLite binds or returns, as shoal uses them (no blobs in replicated statements). */
export type SqlValue = string | number | null;

/** Durability of commits: FULL fsyncs each commit (Raft log, local config); NORMAL does not. */
export type Synchronous = "FULL" | "NORMAL";

/** Opens a SQLite file in WAL mode with foreign keys on. */
export function openSqlite(path: string, synchronous: Synchronous = "FULL"): DatabaseSync {
  const db = new DatabaseSync(path, { timeout: 5000 });
  db.exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=${synchronous}; PRAGMA foreign_keys=ON`);
  return db;
}

/** Runs fn inside BEGIN IMMEDIATE … COMMIT, rolling back if it throws. */
export function withTransaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const out = fn();
    db.exec("COMMIT");
    return out;
  } catch (e) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw e;
  }
}

export { DatabaseSync };
