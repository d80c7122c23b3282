import type { DatabaseSync } from "node:sqlite";
import type { StateMachine } from "../driver/state_machine.ts";
import { decodeBatch, type SessionRef } from "./batch.ts";
import {
  type EntrySessions,
  SESSION_EXPIRY_ENTRIES,
  SESSION_SWEEP_EVERY,
  type SessionCheck,
  SESSIONS_SCHEMA,
  SessionTable,
} from "./sessions.ts";
import { StatusError } from "../util/mod.ts";
import { openSqlite, withTransaction } from "./sqlite.ts";
import { Reader, RecordingTx, type Row, StatementCache, type TxDef } from "./tx.ts";

/**
 * What applying one transaction of a batch did. A transaction of a client session carries the
 * result its first run computed and the index of the entry that applied it: a duplicate is
 * answered with the first outcome, not applied again.
 */
export type TxOutcome =
  | { ok: true; result?: unknown; index?: number; duplicate?: boolean }
  | { ok: false; error: string; index?: number; duplicate?: boolean };

/** How long client sessions live, in entries (tests shorten it). */
export interface FsmOptions {
  sessionExpiry?: number;
  sessionSweepEvery?: number;
}

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
 * The table a write statement names (INSERT, REPLACE, UPDATE, DELETE, without a WITH clause): one
 * of the four groups, quoted or bare. Anything else (a schema change) is taken to change them all.
 */
const WRITTEN_TABLE =
  /^\s*(?:(?:INSERT|REPLACE)(?:\s+OR\s+\w+)?\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+(?:"([^"]+)"|`([^`]+)`|\[([^\]]+)\]|(\w+))(?=[\s(]|$)/i;

/**
 * The replicated state machine: the global SQLite database. Each log entry is applied in one
 * SQLite transaction together with its index, so an entry is applied exactly once, also across
 * crashes. Commits need no fsync of their own (synchronous=NORMAL): after a crash the log,
 * which is durable, replays whatever the database lost.
 */
export class GlobalFsm implements StateMachine<TxOutcome[]> {
  #path: string;
  #db: DatabaseSync;
  #cache: StatementCache;
  #sessions: SessionTable;
  #applied = { index: 0, term: 0 };
  #version = 0;
  /** tableVersion()'s clock: the tick of each table's last possible change, and of everyone's. */
  #tick = 0;
  #tableTicks = new Map<string, number>();
  #everyTick = 0;
  /** Tables a write to each table may change too (foreign key actions), null until asked. */
  #affected: Map<string, string[]> | "triggers" | null = null;
  #expiry: number;
  #sweepEvery: number;
  /** A spare's: the database is deleted (drop()), until a snapshot or an entry brings it back. */
  #dropped = false;

  constructor(path: string, options: FsmOptions = {}) {
    this.#path = path;
    this.#expiry = options.sessionExpiry ?? SESSION_EXPIRY_ENTRIES;
    this.#sweepEvery = options.sessionSweepEvery ?? SESSION_SWEEP_EVERY;
    this.#db = this.#open();
    this.#cache = new StatementCache(this.#db);
    this.#sessions = new SessionTable(this.#cache);
  }

  #open(): DatabaseSync {
    this.#version++;
    this.#changedAll();
    const db = openSqlite(this.#path, "NORMAL");
    db.exec(APPLIED_SCHEMA);
    // The state machine's own tables exist before any entry is applied (a schema update would
    // itself be an entry): applying never depends on the schema version.
    db.exec(SESSIONS_SCHEMA);
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

  /**
   * Moves whenever the table may have changed: a write to it (or to a table whose rows its
   * foreign keys follow), any statement whose table cannot be told (a schema change), a restored
   * snapshot, a reset. version moves at every entry; what is derived from one table (this
   * member's name, from nodes) can be kept across the writes of others.
   */
  tableVersion(table: string): number {
    return Math.max(this.#everyTick, this.#tableTicks.get(table.toLowerCase()) ?? 0);
  }

  #changedAll(): void {
    this.#everyTick = ++this.#tick;
    this.#affected = null;
  }

  /** Records what a statement of an entry may have changed, for tableVersion(). */
  #changed(sql: string): void {
    const m = WRITTEN_TABLE.exec(sql);
    if (!m) return this.#changedAll();
    const table = (m[1] ?? m[2] ?? m[3] ?? m[4]!).toLowerCase();
    let affected: string[] | null = null;
    try {
      affected = this.#affectedBy(table);
    } catch { /* the schema could not be read: taken as a change of everything */ }
    if (affected === null) {
      this.#everyTick = ++this.#tick;
      return;
    }
    const tick = ++this.#tick;
    for (const t of affected) this.#tableTicks.set(t, tick);
  }

  /**
   * The table and those whose foreign keys act on a write to it, transitively (read from the
   * schema once after each change of everything); null when the schema has a trigger, which may
   * write anywhere.
   */
  #affectedBy(table: string): string[] | null {
    if (this.#affected === null) {
      const all = (sql: string, ...params: string[]) => this.#db.prepare(sql).all(...params) as Row[];
      const tables = all("SELECT name FROM sqlite_master WHERE type = 'table'").map((r) =>
        String(r.name).toLowerCase()
      );
      const children = new Map<string, string[]>();
      for (const name of tables) {
        for (const r of all('SELECT "table" AS parent FROM pragma_foreign_key_list(?)', name)) {
          const parent = String(r.parent).toLowerCase();
          children.set(parent, [...(children.get(parent) ?? []), name]);
        }
      }
      const affected = new Map<string, string[]>();
      for (const name of tables) {
        const seen = new Set([name]);
        const todo = [name];
        while (todo.length > 0) {
          for (const c of children.get(todo.pop()!) ?? []) {
            if (!seen.has(c)) {
              seen.add(c);
              todo.push(c);
            }
          }
        }
        affected.set(name, [...seen]);
      }
      const triggers = all("SELECT name FROM sqlite_master WHERE type = 'trigger'").length > 0;
      this.#affected = triggers ? "triggers" : affected;
    }
    if (this.#affected === "triggers") return null;
    return this.#affected.get(table) ?? [table];
  }

  /** Index and term of the last applied entry. */
  get applied(): { index: number; term: number } {
    return { ...this.#applied };
  }

  /** Reads current local state (the caller has ensured it is fresh enough). */
  read<R>(fn: (r: Reader) => R): R {
    if (this.#dropped) throw noReplica();
    return fn(new Reader(this.#cache));
  }

  /**
   * Runs transactions in order against the current state, each in a savepoint, and rolls all
   * of it back: what they wrote is returned as statements to propose. Running them in sequence
   * lets each see the writes of the ones before it, as applying the batch will.
   */
  execute(txs: { def: TxDef<unknown, unknown>; args: unknown }[], now: string): Executed<unknown>[] {
    const out: Executed<unknown>[] = [];
    this.#revive();
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
   * What the session table says of a transaction now (the leader asks before running it, so
   * that a duplicate is answered without running it again).
   */
  checkSession(ref: SessionRef): SessionCheck {
    this.#revive();
    return this.#sessions.check(ref);
  }

  /**
   * Applies one committed entry. data is a batch, or empty for entries that carry no database
   * change (a new leader's empty entry, membership changes): only the index moves then.
   * A statement that fails rolls back its own transaction only; that outcome is the same on
   * every member because every member applies the same statements to the same state. A
   * transaction of a client session that was applied before is skipped and answered with its
   * first outcome; the decision reads only the database, so every member takes the same one.
   */
  apply(index: number, term: number, data: string): TxOutcome[] {
    if (index <= this.#applied.index) return []; // replayed after a crash: already applied
    if (index !== this.#applied.index + 1) {
      throw new Error(`Cannot apply entry ${index}: last applied is ${this.#applied.index}`);
    }
    const outcomes: TxOutcome[] = [];
    this.#revive();
    try {
      this.#applyEntry(index, term, data, outcomes);
    } catch (e) {
      // Rolled back whole, a schema change with it: what tableVersion() knows of the schema too.
      this.#changedAll();
      throw e;
    }
    this.#applied = { index, term };
    this.#version++;
    return outcomes;
  }

  #applyEntry(index: number, term: number, data: string, outcomes: TxOutcome[]): void {
    withTransaction(this.#db, () => {
      if (data !== "") {
        const batch = decodeBatch(data);
        for (const id of batch.open ?? []) this.#sessions.open(id, index);
        const entry: EntrySessions = new Map();
        batch.txs.forEach((stmts, i) => {
          const session = batch.s?.[i] ?? null;
          if (session) {
            const seen = this.#sessions.check(session, entry);
            if (seen.kind === "duplicate") {
              outcomes.push({ ...seen.outcome, duplicate: true });
              return;
            }
            if (seen.kind === "refused") {
              outcomes.push({ ok: false, error: seen.error });
              return;
            }
          }
          const outcome = this.#applyTx(stmts);
          if (!session) {
            outcomes.push(outcome);
            return;
          }
          const first = outcome.ok ? { ok: true as const, result: session.r } : outcome;
          this.#sessions.record(session, index, first, entry);
          outcomes.push({ ...first, index });
        });
        this.#sessions.finish(index, entry);
      }
      if (index % this.#sweepEvery === 0) this.#sessions.expire(index - this.#expiry);
      this.#cache.get(
        "INSERT INTO raft_applied (id, idx, term) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET idx = excluded.idx, term = excluded.term",
      ).run(index, term);
    });
  }

  #applyTx(stmts: { sql: string; params: (string | number | null)[] }[]): TxOutcome {
    try {
      return this.#runTx(stmts);
    } finally {
      // After running them, on the schema they leave (a table they created has its foreign keys
      // read); a failed transaction is counted as a change too.
      for (const s of stmts) this.#changed(s.sql);
    }
  }

  #runTx(stmts: { sql: string; params: (string | number | null)[] }[]): TxOutcome {
    this.#db.exec("SAVEPOINT tx");
    try {
      for (const s of stmts) this.#cache.get(s.sql).run(...s.params);
      this.#db.exec("RELEASE tx");
      return { ok: true };
    } catch (e) {
      // Only a failure every member meets the same way may become the transaction's outcome. A
      // full disk, an I/O error or a lock is this member's own trouble: recorded as "failed", it
      // would leave this member without a write that every other member has. Fail the whole
      // entry instead (SQLite may have rolled it all back already, then the savepoint is gone
      // and the cause must not be hidden behind "no such savepoint"): nothing of it is
      // committed, and it is applied again once the member can write.
      if (!isDeterministicFailure(e) || !this.#db.isTransaction) throw e;
      this.#db.exec("ROLLBACK TO tx");
      this.#db.exec("RELEASE tx");
      return { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
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
    this.#revive();
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
    if (this.#db.isOpen) this.#db.close();
    this.#dropped = false;
    const tmp = `${this.#path}.restore`;
    Deno.writeFileSync(tmp, bytes, { mode: 0o600 });
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
    this.#sessions = new SessionTable(this.#cache);
  }

  /** Empties the database (a member that joins another cluster waits for its snapshot). */
  reset(): void {
    this.#cache.clear();
    // Closing checkpoints the WAL into the file, with an fsync, for files deleted next line: a
    // joiner waited ~20 ms here before its listener opened.
    if (this.#db.isOpen) {
      this.#db.exec("PRAGMA synchronous=OFF");
      this.#db.close();
    }
    this.#dropped = false;
    for (const suffix of ["", "-wal", "-shm"]) {
      try {
        Deno.removeSync(this.#path + suffix);
      } catch { /* absent */ }
    }
    this.#db = this.#open();
    this.#cache = new StatementCache(this.#db);
    this.#sessions = new SessionTable(this.#cache);
  }

  /** Forces everything to disk (before the log below the applied index may be dropped). */
  checkpoint(): void {
    if (!this.#dropped) this.#db.exec("PRAGMA wal_checkpoint(FULL)");
  }

  /** The connection, for `shoald sql` and schema updates at bootstrap. */
  get connection(): DatabaseSync {
    if (this.#dropped) throw noReplica();
    // Whoever takes it may write (shoald sql reads only, today): tableVersion() must not miss it.
    this.#changedAll();
    return this.#db;
  }

  /**
   * Deletes the database: this member became a spare, which keeps no copy (as dqlite's spares
   * replicate nothing), so nothing stale can be served from it. Reads throw until a snapshot or
   * the log (it was promoted) brings the database back.
   */
  drop(): void {
    this.#cache.clear();
    // As reset(): no fsync for files deleted next (a joiner drops what it held, too).
    if (this.#db.isOpen) {
      this.#db.exec("PRAGMA synchronous=OFF");
      this.#db.close();
    }
    for (const suffix of ["", "-wal", "-shm"]) {
      try {
        Deno.removeSync(this.#path + suffix);
      } catch { /* absent */ }
    }
    this.#applied = { index: 0, term: 0 };
    this.#version++;
    this.#changedAll();
    this.#dropped = true;
  }

  /** True while the database is dropped (a spare). */
  get dropped(): boolean {
    return this.#dropped;
  }

  /** The log reached a dropped database (a spare promoted): it starts again, empty. */
  #revive(): void {
    if (!this.#dropped) return;
    this.#dropped = false;
    this.#db = this.#open();
    this.#cache = new StatementCache(this.#db);
    this.#sessions = new SessionTable(this.#cache);
  }

  close(): void {
    this.#cache.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}

/**
 * SQLite's result codes that depend on the statement and the database alone (SQL errors,
 * constraints, datatype mismatches, values too big, bad parameter indexes). Everything else
 * (SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY, SQLITE_NOMEM, SQLITE_CORRUPT...) is about this
 * member's machine. An error without a SQLite code (a bad parameter's TypeError) depends on the
 * statement only.
 */
const DETERMINISTIC_SQLITE_CODES = new Set([1, 18, 19, 20, 25]);

/** Would every member applying the same statements to the same state fail the same way? */
export function isDeterministicFailure(e: unknown): boolean {
  const code = (e as { errcode?: unknown } | null)?.errcode;
  if (typeof code !== "number") return true;
  return DETERMINISTIC_SQLITE_CODES.has(code & 0xff);
}

function noReplica(): StatusError {
  return new StatusError(
    503,
    "This member is a spare: it holds no copy of the global database (it reads through the leader). Use a database member (shoald cluster list-database)",
  );
}
