import { DatabaseSync } from "node:sqlite";

/** A value SQLite binds or returns, as shoal uses them (no blobs in replicated statements). */
export type SqlValue = string | number | null;

/** Durability of commits: FULL fsyncs each commit (Raft log, local config); NORMAL does not. */
export type Synchronous = "FULL" | "NORMAL";

/**
 * Opens a SQLite file in WAL mode with foreign keys on. The file is the owner's only (0600): it
 * holds the trust store, the trust password's hash and the Raft log. SQLite gives its -wal and
 * -shm files the database's own mode; files of an older layout are made private here too.
 */
export function openSqlite(path: string, synchronous: Synchronous = "FULL"): DatabaseSync {
  if (path !== ":memory:") {
    try {
      Deno.writeFileSync(path, new Uint8Array(), { mode: 0o600, createNew: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
  const db = new DatabaseSync(path, { timeout: 5000 });
  db.exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=${synchronous}; PRAGMA foreign_keys=ON`);
  if (path !== ":memory:") {
    for (const f of [path, `${path}-wal`, `${path}-shm`]) {
      try {
        Deno.chmodSync(f, 0o600);
      } catch { /* not there (yet) */ }
    }
  }
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
