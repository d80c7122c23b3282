import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { logStorageSuite } from "../../tests/raft/log_storage_suite.ts";
import { CompactedError, SqliteStorage, type StoredEntry, UnavailableError } from "./sqlite_storage.ts";

function e(index: number, term: number, data = `d${index}`): StoredEntry {
  return { index, term, type: "normal", data };
}

async function open(dir?: string) {
  const d = dir ?? await Deno.makeTempDir();
  const db = new DatabaseSync(`${d}/local.db`);
  db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL");
  return { dir: d, db, s: new SqliteStorage(db, `${d}/snapshot`) };
}

Deno.test("SqliteStorage persists entries and hard state and reloads them after a restart", async () => {
  const { dir, db, s } = await open();
  assert.equal(s.isEmpty, true);
  s.bootstrap({ voters: [1], standbys: [], spares: [] });
  s.persist({ entries: [e(2, 1), e(3, 1)], hardState: { term: 1, vote: 1, commit: 3 } });
  db.close();
  const again = await open(dir);
  assert.equal(again.s.firstIndex(), 2);
  assert.equal(again.s.lastIndex(), 3);
  assert.equal(again.s.term(1), 1);
  assert.deepEqual(again.s.entries(2, 4).map((x) => x.data), ["d2", "d3"]);
  assert.deepEqual(again.s.initialState(), {
    hardState: { term: 1, vote: 1, commit: 3 },
    confState: { voters: [1], standbys: [], spares: [] },
  });
  again.db.close();
});

Deno.test("SqliteStorage truncates a conflicting suffix when entries are overwritten", async () => {
  const { db, s } = await open();
  s.bootstrap({ voters: [1], standbys: [], spares: [] });
  s.persist({ entries: [e(2, 1), e(3, 1), e(4, 1)] });
  s.persist({ entries: [e(3, 2, "new")] });
  assert.equal(s.lastIndex(), 3);
  assert.equal(s.term(3), 2);
  assert.equal(s.entries(3, 4)[0]!.data, "new");
  assert.throws(() => s.persist({ entries: [e(9, 2)] }), /gap/);
  db.close();
});

Deno.test("SqliteStorage reports compacted and unavailable indexes with typed errors", async () => {
  const { db, s } = await open();
  s.bootstrap({ voters: [1], standbys: [], spares: [] });
  s.persist({ entries: [e(2, 1), e(3, 1), e(4, 2)] });
  s.saveSnapshot({
    meta: { index: 4, term: 2, conf: { voters: [1, 2], standbys: [], spares: [] } },
    data: new Uint8Array([1, 2, 3]),
  }, 3);
  assert.equal(s.firstIndex(), 4);
  assert.equal(s.term(3), 1);
  assert.throws(() => s.term(2), CompactedError);
  assert.throws(() => s.entries(3, 5), CompactedError);
  assert.throws(() => s.term(5), UnavailableError);
  assert.deepEqual(s.snapshot().data, new Uint8Array([1, 2, 3]));
  assert.deepEqual(s.snapshot().meta.conf.voters, [1, 2]);
  db.close();
});

Deno.test("SqliteStorage applies a received snapshot by replacing the whole log", async () => {
  const { dir, db, s } = await open();
  s.persist({ entries: [e(1, 1), e(2, 1)], hardState: { term: 1, vote: 0, commit: 1 } });
  s.persist({
    snapshot: {
      meta: { index: 10, term: 3, conf: { voters: [1, 2, 3], standbys: [], spares: [] } },
      data: new Uint8Array([9]),
    },
    entries: [],
    hardState: { term: 3, vote: 0, commit: 10 },
  });
  assert.equal(s.firstIndex(), 11);
  assert.equal(s.lastIndex(), 10);
  assert.equal(s.term(10), 3);
  db.close();
  const again = await open(dir);
  assert.equal(again.s.firstIndex(), 11);
  assert.deepEqual(again.s.snapshot().data, new Uint8Array([9]));
  again.db.close();
});

Deno.test("SqliteStorage writes no batch for a commit index alone, and stores it with the next durable one", async () => {
  const { dir, db, s } = await open();
  s.bootstrap({ voters: [1], standbys: [], spares: [] });
  s.persist({ entries: [e(2, 1), e(3, 1)], hardState: { term: 1, vote: 1, commit: 1 } });
  const changes = () => (db.prepare("SELECT total_changes() AS n").get() as { n: number }).n;
  const before = changes();
  s.persist({ entries: [], hardState: { term: 1, vote: 1, commit: 3 } });
  assert.equal(changes(), before, "a commit-only hard state must cost no transaction");
  assert.equal(s.hardState.commit, 3);
  // A vote is durable state: it is written at once.
  s.persist({ entries: [], hardState: { term: 2, vote: 1, commit: 3 } });
  assert.ok(changes() > before);
  db.close();
  const again = await open(dir);
  assert.deepEqual(again.s.initialState().hardState, { term: 2, vote: 1, commit: 3 });
  again.db.close();
});

logStorageSuite("SQLite", async () => {
  const { dir, db, s } = await open();
  const dbs = [db];
  return {
    storage: s,
    reopen: () => {
      const again = new DatabaseSync(`${dir}/local.db`);
      dbs.push(again);
      return new SqliteStorage(again, `${dir}/snapshot`);
    },
    close: () => dbs.forEach((d) => d.close()),
  };
});

Deno.test("SqliteStorage.persistAsync commits at once, is durable once its promise resolves, and restores FULL commits", async () => {
  const { dir, db, s } = await open();
  s.bootstrap({ voters: [1], standbys: [], spares: [] });
  const w = s.persistAsync({ entries: [e(2, 1), e(3, 1)], hardState: { term: 1, vote: 1, commit: 3 } });
  assert.ok(w instanceof Promise, "a write with entries waits for its fsync");
  // The core reads the new entries at once (its reads never wait on the disk).
  assert.equal(s.lastIndex(), 3);
  await w;
  // synchronous is back to FULL (2) for every other commit on the member's local database.
  assert.equal(db.prepare("PRAGMA synchronous").get()?.synchronous, 2);
  // Only the commit index moved: nothing to make durable.
  assert.equal(s.persistAsync({ entries: [], hardState: { term: 1, vote: 1, commit: 3 } }), null);
  db.close();
  const again = await open(dir);
  assert.deepEqual(again.s.entries(2, 4).map((x) => x.data), ["d2", "d3"]);
  assert.deepEqual(again.s.initialState().hardState, { term: 1, vote: 1, commit: 3 });
  again.db.close();
});
