import type { DatabaseSync } from "node:sqlite";
import type { StateMachine } from "../driver/state_machine.ts";
import { decodeBatch } from "./batch.ts";
import { openSqlite, withTransaction } from "./sqlite.ts";
import { Reader, RecordingTx, StatementCache, type TxDef } from "./tx.ts";

/** What applying one transaction of a batch did. */
export type TxOutcome = { ok: true } | { ok: false; error: string };

/** Outcome of one transaction executed on the leader, before it is proposed. */
export type Executed<R> =
  | { ok: true; result: R; stmts: import("./batch.ts").Stmt[] }
  | { ok: false; error: unknown };

const APPLIED_SCHEMA = `CREATE TABLE IF NOT EXISTS raft_applied (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  idx INTEGER NOT NULL,
  term INTEGER NOT NULL
)`;

/**
 * The replicated state machine: the global SQLite database. Each log entry is applied in one
 * SQLite transaction together with its index, so an entry is applied exactly once, also across
 * crashes. Commits need no fsync of their own (synchronous=NORMAL): after a crash the log,
 * which is durable, replays whatever the database lost.
 */
export class GlobalFsm implements StateMachine {
  #path: string;
  #db: DatabaseSync;
  #cache: StatementCache;
  #applied = { index: 0, term: 0 };
  #version = 0;

  constructor(path: string) {
    this.#path = path;
    this.#db = this.#open();
    this.#cache = new StatementCache(this.#db);
  }

  #open(): DatabaseSync {
    this.#version++;
    const db = openSqlite(this.#path, "NORMAL");
    db.exec(APPLIED_SCHEMA);
    const row = db.prepare("SELECT idx, term FROM raft_applied WHERE id = 1").get() as
      | { idx: number; term: number }
      | undefined;
    this.#applied = { index: row?.idx ?? 0, term: row?.term ?? 0 };
    return db;
  }

  /**
   * Changes whenever the database may have: an applied entry, a restored snapshot, a reset.
   * What is derived from the database can be kept until it moves.
   */
  get version(): number {
    return this.#version;
  }

  /** Index and term of the last applied entry. */
  get applied(): { index: number; term: number } {
    return { ...this.#applied };
  }

  /** Reads current local state (the caller has ensured it is fresh enough). */
  read<R>(fn: (r: Reader) => R): R {
    return fn(new Reader(this.#cache));
  }

  /**
   * Runs transactions in order against the current state, each in a savepoint, and rolls all
   * of it back: what they wrote is returned as statements to propose. Running them in sequence
   * lets each see the writes of the ones before it, as applying the batch will.
   */
  execute(txs: { def: TxDef<unknown, unknown>; args: unknown }[], now: string): Executed<unknown>[] {
    const out: Executed<unknown>[] = [];
    this.#db.exec("BEGIN");
    try {
      for (const { def, args } of txs) {
        this.#db.exec("SAVEPOINT tx");
        const tx = new RecordingTx(this.#cache, now);
        try {
          const result = def.fn(tx, args);
          this.#db.exec("RELEASE tx");
          out.push({ ok: true, result, stmts: tx.stmts });
        } catch (error) {
          this.#db.exec("ROLLBACK TO tx");
          this.#db.exec("RELEASE tx");
          out.push({ ok: false, error });
        }
      }
    } finally {
      this.#db.exec("ROLLBACK");
    }
    return out;
  }

  /**
   * Applies one committed entry. data is a batch, or empty for entries that carry no database
   * change (a new leader's empty entry, membership changes): only the index moves then.
   * A statement that fails rolls back its own transaction only; that outcome is the same on
   * every member because every member applies the same statements to the same state.
   */
  apply(index: number, term: number, data: string): TxOutcome[] {
    if (index <= this.#applied.index) return []; // replayed after a crash: already applied
    if (index !== this.#applied.index + 1) {
      throw new Error(`Cannot apply entry ${index}: last applied is ${this.#applied.index}`);
    }
    const outcomes: TxOutcome[] = [];
    withTransaction(this.#db, () => {
      if (data !== "") {
        for (const stmts of decodeBatch(data).txs) {
          this.#db.exec("SAVEPOINT tx");
          try {
            for (const s of stmts) this.#cache.get(s.sql).run(...s.params);
            this.#db.exec("RELEASE tx");
            outcomes.push({ ok: true });
          } catch (e) {
            this.#db.exec("ROLLBACK TO tx");
            this.#db.exec("RELEASE tx");
            outcomes.push({ ok: false, error: e instanceof Error ? e.message : String(e) });
          }
        }
      }
      this.#cache.get(
        "INSERT INTO raft_applied (id, idx, term) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET idx = excluded.idx, term = excluded.term",
      ).run(index, term);
    });
    this.#applied = { index, term };
    this.#version++;
    return outcomes;
  }

  get appliedIndex(): number {
    return this.#applied.index;
  }

  applyEntry(index: number, term: number, data: string): TxOutcome[] {
    return this.apply(index, term, data);
  }

  sync(): void {
    this.checkpoint();
  }

  /** A consistent copy of the whole database, with its applied index inside. */
  snapshot(): Uint8Array {
    const bytes = this.#db.serialize();
    // A WAL-mode image fails after deserialize() unless marked as a rollback-journal file
    // (STACK.md §5): header bytes 18 and 19 are the read/write format versions.
    bytes[18] = 1;
    bytes[19] = 1;
    return bytes;
  }

  /** Replaces the whole database with a snapshot (from snapshot() on any member). */
  restore(bytes: Uint8Array): void {
    this.#cache.clear();
    this.#db.close();
    const tmp = `${this.#path}.restore`;
    Deno.writeFileSync(tmp, bytes);
    const f = Deno.openSync(tmp, { read: true, write: true });
    f.syncSync();
    f.close();
    for (const suffix of ["-wal", "-shm"]) {
      try {
        Deno.removeSync(this.#path + suffix);
      } catch { /* absent */ }
    }
    Deno.renameSync(tmp, this.#path);
    this.#db = this.#open();
    this.#cache = new StatementCache(this.#db);
  }

  /** Empties the database (a member that joins another cluster waits for its snapshot). */
  reset(): void {
    this.#cache.clear();
    this.#db.close();
    for (const suffix of ["", "-wal", "-shm"]) {
      try {
        Deno.removeSync(this.#path + suffix);
      } catch { /* absent */ }
    }
    this.#db = this.#open();
    this.#cache = new StatementCache(this.#db);
  }

  /** Forces everything to disk (before the log below the applied index may be dropped). */
  checkpoint(): void {
    this.#db.exec("PRAGMA wal_checkpoint(FULL)");
  }

  /** The connection, for `shoald sql` and schema updates at bootstrap. */
  get connection(): DatabaseSync {
    return this.#db;
  }

  close(): void {
    this.#cache.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}
