import type { DatabaseSync, StatementSync } from "node:sqlite";
import { CompactedError, UnavailableError } from "../raft/mod.ts";

// The core recognises these by name; they are the core's own, re-exported for callers here.
export { CompactedError, UnavailableError };

/*
 * The shapes below are lib/raft's (Entry, HardState, ConfState, Snapshot): declared
 * structurally so that this store stays a plain SQLite module.
 */

/** A log entry. */
export interface StoredEntry {
  index: number;
  term: number;
  type: "normal" | "conf";
  data: string;
}

/** Term, vote and commit index: what must survive a crash before votes and acks leave. */
export interface StoredHardState {
  term: number;
  vote: number;
  commit: number;
}

/** Voters, stand-bys (learners) and spares. */
export interface StoredConfState {
  voters: number[];
  standbys: number[];
  spares: number[];
}

/** A snapshot: metadata, and the state machine's bytes. */
export interface StoredSnapshot {
  meta: { index: number; term: number; conf: StoredConfState };
  data: Uint8Array;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS raft_entries (
  idx INTEGER PRIMARY KEY,
  term INTEGER NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS raft_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  term INTEGER NOT NULL,
  vote INTEGER NOT NULL,
  commit_idx INTEGER NOT NULL,
  first_idx INTEGER NOT NULL,
  offset_term INTEGER NOT NULL,
  snap_idx INTEGER NOT NULL,
  snap_term INTEGER NOT NULL,
  snap_conf TEXT NOT NULL
);
`;

const EMPTY_CONF: StoredConfState = { voters: [], standbys: [], spares: [] };

/** What one Ready asks to persist. */
export interface PersistBatch {
  hardState?: StoredHardState;
  entries: StoredEntry[];
  snapshot?: StoredSnapshot;
}

/**
 * The Raft log, hard state and snapshot metadata in SQLite (the member's local.db, which commits
 * with synchronous=FULL), with the log tail kept in memory so that the core's reads are
 * synchronous and cheap. Snapshot bytes live in one file next to the global database.
 *
 * Invariants: entries hold indexes firstIndex()..lastIndex() without gaps; the entry just before
 * firstIndex() is known only by its term (offsetTerm); the snapshot's index is at least
 * firstIndex() - 1 (compaction may keep entries the snapshot covers, for slow followers).
 */
export class SqliteStorage {
  #db: DatabaseSync;
  #snapshotPath: string;
  #entries: StoredEntry[] = [];
  #first = 1;
  #offsetTerm = 0;
  #hard: StoredHardState = { term: 0, vote: 0, commit: 0 };
  #snapMeta: StoredSnapshot["meta"] = { index: 0, term: 0, conf: EMPTY_CONF };
  #snapData: Uint8Array | null = null;
  #stmts: Record<string, StatementSync>;
  /** The WAL file, open for its fsyncs (persistAsync), and its inode. */
  #wal: { file: Deno.FsFile; ino: number | null } | null = null;

  constructor(db: DatabaseSync, snapshotPath: string) {
    this.#db = db;
    this.#snapshotPath = snapshotPath;
    db.exec(SCHEMA);
    this.#stmts = {
      insert: db.prepare("INSERT OR REPLACE INTO raft_entries (idx, term, type, data) VALUES (?, ?, ?, ?)"),
      truncateFrom: db.prepare("DELETE FROM raft_entries WHERE idx >= ?"),
      truncateTo: db.prepare("DELETE FROM raft_entries WHERE idx <= ?"),
      state: db.prepare(
        "INSERT OR REPLACE INTO raft_state (id, term, vote, commit_idx, first_idx, offset_term, snap_idx, snap_term, snap_conf) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
      ),
    };
    this.#load();
  }

  #load(): void {
    const s = this.#db.prepare("SELECT * FROM raft_state WHERE id = 1").get() as
      | Record<string, number | string>
      | undefined;
    if (s) {
      this.#hard = { term: Number(s.term), vote: Number(s.vote), commit: Number(s.commit_idx) };
      this.#first = Number(s.first_idx);
      this.#offsetTerm = Number(s.offset_term);
      this.#snapMeta = {
        index: Number(s.snap_idx),
        term: Number(s.snap_term),
        conf: JSON.parse(String(s.snap_conf)),
      };
    }
    const rows = this.#db.prepare(
      "SELECT idx, term, type, data FROM raft_entries WHERE idx >= ? ORDER BY idx",
    ).all(this.#first) as {
      idx: number;
      term: number;
      type: string;
      data: string;
    }[];
    this.#entries = [];
    for (const r of rows) {
      if (r.idx !== this.#first + this.#entries.length) break; // a torn tail cannot exist (one txn per batch), but never trust a gap
      this.#entries.push({
        index: r.idx,
        term: r.term,
        type: r.type === "conf" ? "conf" : "normal",
        data: r.data,
      });
    }
  }

  /** True when nothing was ever stored: a new member that has yet to bootstrap or join. */
  get isEmpty(): boolean {
    return this.#hard.term === 0 && this.#entries.length === 0 && this.#snapMeta.index === 0;
  }

  // Storage (read side, used by the Raft core)

  initialState(): { hardState: StoredHardState; confState: StoredConfState } {
    return { hardState: { ...this.#hard }, confState: structuredClone(this.#snapMeta.conf) };
  }

  firstIndex(): number {
    return this.#first;
  }

  lastIndex(): number {
    return this.#first + this.#entries.length - 1;
  }

  term(i: number): number {
    if (i === this.#first - 1) return this.#offsetTerm;
    if (i < this.#first - 1) throw new CompactedError(i, this.#first);
    if (i > this.lastIndex()) throw new UnavailableError(i, this.lastIndex());
    return this.#entries[i - this.#first]!.term;
  }

  /** Entries [lo, hi), at most maxBytes of data (at least one entry). */
  entries(lo: number, hi: number, maxBytes = Infinity): StoredEntry[] {
    if (lo < this.#first) throw new CompactedError(lo, this.#first);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    const out: StoredEntry[] = [];
    let size = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.#entries[i - this.#first]!;
      size += e.data.length + 24;
      if (out.length > 0 && size > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  snapshot(): StoredSnapshot {
    if (this.#snapData === null) {
      try {
        this.#snapData = Deno.readFileSync(this.#snapshotPath);
      } catch {
        this.#snapData = new Uint8Array();
      }
    }
    return { meta: structuredClone(this.#snapMeta), data: this.#snapData };
  }

  // Write side, used by the driver

  get hardState(): StoredHardState {
    return { ...this.#hard };
  }

  get snapshotMeta(): StoredSnapshot["meta"] {
    return structuredClone(this.#snapMeta);
  }

  /** The latest snapshot's index (asked after every Ready: no copy of the configuration). */
  get snapshotIndex(): number {
    return this.#snapMeta.index;
  }

  #writeState(): void {
    this.#stmts.state!.run(
      this.#hard.term,
      this.#hard.vote,
      this.#hard.commit,
      this.#first,
      this.#offsetTerm,
      this.#snapMeta.index,
      this.#snapMeta.term,
      JSON.stringify(this.#snapMeta.conf),
    );
  }

  #writeSnapshotFile(data: Uint8Array): void {
    const tmp = `${this.#snapshotPath}.tmp`;
    const f = Deno.openSync(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
    try {
      let rest = data;
      while (rest.length > 0) rest = rest.subarray(f.writeSync(rest));
      f.syncSync();
    } finally {
      f.close();
    }
    Deno.renameSync(tmp, this.#snapshotPath);
    this.#snapData = data;
  }

  /**
   * Persists one Ready's snapshot, entries and hard state durably, in one SQLite transaction
   * (one fsync): nothing that depends on them may be sent before this returns.
   */
  persist(b: PersistBatch): void {
    if (this.#needsWrite(b)) this.#write(b);
  }

  /**
   * persist() with the fsync off the event loop: the transaction commits here without one
   * (synchronous=NORMAL for this commit only), then the WAL file, which holds it, is synced on
   * Deno's blocking threads. Nothing that depends on the batch may be sent before the promise
   * resolves; null when nothing had to be made durable (persist() then did all of it). A
   * leader spent a quarter of its time with 16 writers blocked in this fsync, unable to read
   * the next requests; now the next group of transactions forms meanwhile. A snapshot, rare
   * and with a file of its own, is written as persist() does.
   */
  persistAsync(b: PersistBatch): Promise<void> | null {
    if (!this.#needsWrite(b)) return null;
    const wal = this.#walPath;
    if (b.snapshot || wal === null) {
      this.#write(b);
      return null;
    }
    this.#db.exec("PRAGMA synchronous=NORMAL");
    try {
      this.#write(b);
    } finally {
      this.#db.exec("PRAGMA synchronous=FULL");
    }
    return this.#syncWal(wal);
  }

  /**
   * fdatasync of the WAL on Deno's blocking threads, through a descriptor kept open (opening it
   * for each write was 4% of a busy leader's time): fsync makes a file durable whichever of its
   * descriptors asks. Kept only while the path still names the same file: SQLite deletes its WAL
   * when the last connection closes, and a new one is another file.
   */
  async #syncWal(path: string): Promise<void> {
    const ino = Deno.statSync(path).ino;
    if (this.#wal?.ino !== ino) {
      this.#wal?.file.close();
      this.#wal = null;
      const file = Deno.openSync(path, { read: true });
      if (file.statSync().ino !== ino) {
        // Replaced between the two looks: sync this one, keep none.
        try {
          await file.syncData();
        } finally {
          file.close();
        }
        return;
      }
      this.#wal = { file, ino };
    }
    await this.#wal.file.syncData();
  }

  /** The WAL file of a database on disk (null in memory), where commits are written first. */
  get #walPath(): string | null {
    const path = this.#db.location();
    return path ? `${path}-wal` : null;
  }

  /** False when only the commit index moved (or nothing did): then it is only noted. */
  #needsWrite(b: PersistBatch): boolean {
    if (!b.hardState && b.entries.length === 0 && !b.snapshot) return false;
    if (
      !b.snapshot && b.entries.length === 0 && b.hardState &&
      b.hardState.term === this.#hard.term && b.hardState.vote === this.#hard.vote
    ) {
      // Only the commit index moved. It is volatile state in Raft (Figure 2): after a crash the
      // leader tells it again, and the state machine's own applied index says what was done.
      // Skipping this fsync halves them, since every round of replication advances the commit.
      // It is written with the next batch that must be durable anyway, so the stored commit
      // never falls below a snapshot's index.
      this.#hard = { ...b.hardState };
      return false;
    }
    return true;
  }

  #write(b: PersistBatch): void {
    if (b.snapshot) this.#writeSnapshotFile(b.snapshot.data); // durable before the meta points at it
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      if (b.snapshot) {
        // A received snapshot replaces the whole log (etcd's ApplySnapshot).
        const m = b.snapshot.meta;
        this.#db.exec("DELETE FROM raft_entries");
        this.#entries = [];
        this.#first = m.index + 1;
        this.#offsetTerm = m.term;
        this.#snapMeta = structuredClone(m);
        if (this.#hard.commit < m.index) this.#hard.commit = m.index;
      }
      if (b.entries.length > 0) this.#append(b.entries);
      if (b.hardState) this.#hard = { ...b.hardState };
      this.#writeState();
      this.#db.exec("COMMIT");
    } catch (e) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      this.#load();
      throw e;
    }
  }

  #append(entries: StoredEntry[]): void {
    const first = entries[0]!.index;
    if (first > this.lastIndex() + 1) {
      throw new Error(`Raft log gap: appending ${first} after ${this.lastIndex()}`);
    }
    if (first < this.#first) {
      // Entries already covered by the snapshot: keep only the new tail.
      entries = entries.filter((e) => e.index >= this.#first);
      if (entries.length === 0) return;
    }
    const from = entries[0]!.index;
    if (from <= this.lastIndex()) {
      this.#stmts.truncateFrom!.run(from);
      this.#entries.length = from - this.#first;
    }
    for (const e of entries) {
      this.#stmts.insert!.run(e.index, e.term, e.type, e.data);
      this.#entries.push(e);
    }
  }

  /**
   * Records a snapshot the state machine took at meta.index, and drops log entries up to
   * compactTo (≤ meta.index), keeping the ones after it for followers that are a little behind.
   */
  saveSnapshot(s: StoredSnapshot, compactTo: number): void {
    if (s.meta.index <= this.#snapMeta.index) return;
    if (s.meta.index > this.lastIndex()) {
      throw new Error(`Snapshot at ${s.meta.index} is beyond the log (last ${this.lastIndex()})`);
    }
    this.#writeSnapshotFile(s.data);
    const to = Math.min(compactTo, s.meta.index);
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      this.#snapMeta = structuredClone(s.meta);
      if (to >= this.#first) {
        this.#offsetTerm = this.term(to);
        this.#stmts.truncateTo!.run(to);
        this.#entries = this.#entries.slice(to - this.#first + 1);
        this.#first = to + 1;
      }
      this.#writeState();
      this.#db.exec("COMMIT");
    } catch (e) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      this.#load();
      throw e;
    }
  }

  /**
   * Starts a new log whose first state is the given configuration at index 1 (bootstrap of the
   * first member). The state machine must be at index 1 too.
   */
  bootstrap(conf: StoredConfState): void {
    if (!this.isEmpty) throw new Error("Cannot bootstrap: this member already has a Raft log");
    this.persist({
      snapshot: { meta: { index: 1, term: 1, conf }, data: new Uint8Array() },
      entries: [],
      hardState: { term: 1, vote: 0, commit: 1 },
    });
  }

  /**
   * Rewrites the configuration in the latest snapshot and drops every log entry after it:
   * offline recovery (`cluster edit`, quorum loss), never while the member runs.
   */
  forceConfiguration(conf: StoredConfState, index: number, term: number): void {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      this.#db.exec("DELETE FROM raft_entries");
      this.#entries = [];
      this.#first = index + 1;
      this.#offsetTerm = term;
      this.#snapMeta = { index, term, conf: structuredClone(conf) };
      this.#hard = { term: Math.max(this.#hard.term, term), vote: 0, commit: index };
      this.#writeState();
      this.#db.exec("COMMIT");
    } catch (e) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      this.#load();
      throw e;
    }
  }

  /** Forgets everything (a member that leaves the cluster or joins another). */
  reset(): void {
    this.#db.exec("DELETE FROM raft_entries; DELETE FROM raft_state");
    try {
      Deno.removeSync(this.#snapshotPath);
    } catch { /* none */ }
    this.#entries = [];
    this.#first = 1;
    this.#offsetTerm = 0;
    this.#hard = { term: 0, vote: 0, commit: 0 };
    this.#snapMeta = { index: 0, term: 0, conf: structuredClone(EMPTY_CONF) };
    this.#snapData = null;
  }
}
