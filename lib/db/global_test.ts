import assert from "node:assert/strict";
import { GlobalDB, LocalConsensus } from "./global.ts";
import { GlobalFsm, isDeterministicFailure } from "./fsm.ts";
import { defineTx } from "./tx.ts";
import { readGlobalConfig, type ServerConfigRequest, updateServerConfig } from "./config.ts";
import { updateGlobalSchema } from "./schema_update.ts";
import { answerQueries } from "./remote_read.ts";
import { StatusError } from "../util/mod.ts";

const failing = defineTx("test.failing", (tx, _a: null) => {
  tx.exec("INSERT INTO config (key, value) VALUES ('user.never', 'x')");
  throw new StatusError(400, "refused on purpose");
});

/** PATCH /1.0 of global keys, as a member that is not clustered sends it. */
function patch(db: GlobalDB, requested: ServerConfigRequest["requested"]) {
  return db.run(updateServerConfig, { mode: "patch", requested, local: {}, clustered: false });
}

async function fresh() {
  const dir = await Deno.makeTempDir();
  const fsm = new GlobalFsm(`${dir}/db.sqlite`);
  const db = new GlobalDB(fsm, new LocalConsensus(fsm));
  await db.run(updateGlobalSchema, {});
  return { dir, fsm, db };
}

Deno.test("GlobalDB.run() applies a transaction and records the applied index with it", async () => {
  const { fsm, db, dir } = await fresh();
  const before = fsm.applied.index;
  assert.deepEqual(await patch(db, { "user.a": "1" }), { local: {} });
  assert.equal(fsm.applied.index, before + 1);
  assert.deepEqual(await db.read(readGlobalConfig), { "user.a": "1" });
  fsm.close();
  const again = new GlobalFsm(`${dir}/db.sqlite`);
  assert.equal(again.applied.index, before + 1);
  assert.deepEqual(again.read(readGlobalConfig), { "user.a": "1" });
  again.close();
});

Deno.test("GlobalDB.run() rejects a throwing transaction and keeps none of its writes", async () => {
  const { fsm, db } = await fresh();
  await assert.rejects(db.run(failing, null), /refused on purpose/);
  assert.deepEqual(await db.read(readGlobalConfig), {});
  fsm.close();
});

Deno.test("GlobalDB groups concurrent transactions and each sees the writes before it", async () => {
  const { fsm, db } = await fresh();
  const before = fsm.applied.index;
  await Promise.all(Array.from({ length: 20 }, (_, i) => patch(db, { [`user.k${i}`]: String(i) })));
  assert.equal(Object.keys(await db.read(readGlobalConfig)).length, 20);
  // The first runs alone; the other 19 arrive while it is in flight and share one entry.
  assert.equal(fsm.applied.index, before + 2);
  fsm.close();
});

Deno.test("GlobalFsm.apply() skips entries it already applied (replay after a crash)", async () => {
  const { fsm } = await fresh();
  const idx = fsm.applied.index;
  const data = JSON.stringify({
    v: 1,
    txs: [[{ sql: "INSERT INTO config (key, value) VALUES (?, ?)", params: ["user.x", "1"] }]],
  });
  fsm.apply(idx + 1, 1, data);
  assert.deepEqual(fsm.apply(idx + 1, 1, data), []);
  assert.equal(fsm.read((r) => r.query("SELECT * FROM config").length), 1);
  assert.throws(() => fsm.apply(idx + 5, 1, data), /Cannot apply entry/);
  fsm.close();
});

Deno.test("GlobalFsm snapshot() and restore() carry data and applied index", async () => {
  const { fsm, db, dir } = await fresh();
  await patch(db, { "user.snap": "yes" });
  const bytes = fsm.snapshot();
  const other = new GlobalFsm(`${dir}/other.sqlite`);
  other.restore(bytes);
  assert.deepEqual(other.read(readGlobalConfig), { "user.snap": "yes" });
  assert.deepEqual(other.applied, fsm.applied);
  other.close();
  fsm.close();
});

Deno.test("GlobalFsm.apply() fails a whole entry on a full disk instead of recording its transaction as failed", async () => {
  const { fsm } = await fresh();
  const idx = fsm.applied.index;
  const big = "x".repeat(64 * 1024);
  const data = JSON.stringify({
    v: 1,
    txs: [[{ sql: "INSERT INTO config (key, value) VALUES (?, ?)", params: ["user.big", big] }]],
  });
  // The database may not grow by a page: SQLite answers SQLITE_FULL, as on a full disk, while
  // the applied index (a row that exists) could still be updated in place.
  const pages = Number(
    (fsm.connection.prepare("PRAGMA page_count").get() as { page_count: number }).page_count,
  );
  fsm.connection.exec(`PRAGMA max_page_count = ${pages}`);
  assert.throws(() => fsm.apply(idx + 1, 1, data), /database or disk is full/);
  assert.equal(fsm.applied.index, idx, "nothing of the entry is applied");
  // Space is back: the same entry applies, and its transaction took effect.
  fsm.connection.exec("PRAGMA max_page_count = 1073741823");
  assert.deepEqual(fsm.apply(idx + 1, 1, data), [{ ok: true }]);
  assert.equal(
    fsm.read((r) => r.get<{ n: number }>("SELECT length(value) AS n FROM config WHERE key = 'user.big'"))?.n,
    big.length,
  );
  // A statement that fails the same way everywhere is still that transaction's outcome alone.
  const dup = JSON.stringify({
    v: 1,
    txs: [[{ sql: "INSERT INTO config (key, value) VALUES (?, ?)", params: ["user.big", "again"] }]],
  });
  assert.match(
    String((fsm.apply(idx + 2, 1, dup)[0] as { error?: string }).error),
    /UNIQUE constraint failed/,
  );
  assert.equal(fsm.applied.index, idx + 2);
  fsm.close();
});

Deno.test("isDeterministicFailure() keeps constraint and SQL errors, not a full disk, I/O error or lock", () => {
  const sqlite = (errcode: number) => Object.assign(new Error("x"), { errcode });
  for (const code of [1, 2067, 19, 20, 18, 25]) {
    assert.equal(isDeterministicFailure(sqlite(code)), true, `code ${code}`);
  }
  for (const code of [13, 10, 266, 5, 6, 7, 11, 8]) {
    assert.equal(isDeterministicFailure(sqlite(code)), false, `code ${code}`);
  }
  assert.equal(isDeterministicFailure(new TypeError("bad parameter")), true);
});

/** A leader that hands leadership over: it refuses proposals, as the driver does while transferring. */
class TransferringConsensus extends LocalConsensus {
  override propose(): Promise<never> {
    return Promise.reject(new StatusError(503, "Proposal refused: transferring"));
  }
}

Deno.test("GlobalDB.run() on a leader that hands over sends the transaction to the next leader; other failures stay", async () => {
  const dir = await Deno.makeTempDir();
  const fsm = new GlobalFsm(`${dir}/db.sqlite`);
  await new GlobalDB(fsm, new LocalConsensus(fsm)).run(updateGlobalSchema, {});
  const forwarded: string[] = [];
  const db = new GlobalDB(fsm, new TransferringConsensus(fsm), {
    forward: (name) => {
      forwarded.push(name);
      return Promise.resolve({ result: { local: {} }, index: fsm.applied.index });
    },
  });
  assert.deepEqual(await patch(db, { "user.a": "1" }), { local: {} });
  assert.deepEqual(forwarded, [updateServerConfig.name]);
  // A transaction's own failure is its outcome: it is not sent anywhere.
  await assert.rejects(db.run(failing, null), /refused on purpose/);
  assert.deepEqual(forwarded, [updateServerConfig.name]);
  fsm.close();
  await Deno.remove(dir, { recursive: true });
});

/** A member that holds no replica (a spare): its reads go through `leader`'s database. */
class SpareConsensus extends LocalConsensus {
  replica(): boolean {
    return false;
  }
}

Deno.test("A spare's stale answers are renewed only when the leader's applied index moved past them, and new queries at once", async () => {
  const { fsm: leaderFsm, db: leader, dir } = await fresh();
  const spareFsm = new GlobalFsm(`${dir}/spare.sqlite`);
  const spare = new GlobalDB(spareFsm, new SpareConsensus(spareFsm));
  const fetched: number[] = [];
  spare.setRemoteReader(async (queries) => {
    fetched.push(queries.length);
    let applied = 0;
    const rows = await leader.read((tx) => {
      applied = leaderFsm.appliedIndex;
      return answerQueries(tx, queries);
    }, { stale: true });
    return { rows, applied };
  });
  await patch(leader, { "user.a": "1" });
  // Never asked: a 503 and fetched (warm() waits for it).
  assert.throws(() => spare.readStale(readGlobalConfig), /not fetched/);
  assert.deepEqual(await spare.warm(readGlobalConfig), { "user.a": "1" });
  const n = fetched.length;
  // Heartbeats at the index the answers were read at, or an older one: nothing is asked.
  await spare.renewStale(leaderFsm.appliedIndex);
  await spare.renewStale(leaderFsm.appliedIndex - 1);
  assert.equal(fetched.length, n);
  // The leader applied a change: the next heartbeat renews them.
  await patch(leader, { "user.a": "2" });
  assert.deepEqual(spare.readStale(readGlobalConfig), { "user.a": "1" }); // stale until then
  const version = spare.staleVersion;
  await spare.renewStale(leaderFsm.appliedIndex);
  assert.equal(fetched.length, n + 1);
  assert.deepEqual(spare.readStale(readGlobalConfig), { "user.a": "2" });
  assert.notEqual(spare.staleVersion, version);
  // A query with no answer yet is fetched at the next heartbeat even at the same index.
  assert.throws(() => spare.readStale((tx) => tx.query("SELECT key FROM config")), /not fetched/);
  await spare.renewStale(leaderFsm.appliedIndex);
  assert.deepEqual(
    spare.readStale((tx) => tx.query<{ key: string }>("SELECT key FROM config")).map((r) => r.key),
    ["user.a"],
  );
  // A member that says no index (an older one) is asked again at every heartbeat.
  spare.setRemoteReader(async (queries) => {
    fetched.push(queries.length);
    return { rows: await leader.read((tx) => answerQueries(tx, queries)), applied: null };
  });
  await spare.refreshStale();
  const m = fetched.length;
  await spare.renewStale(0);
  assert.equal(fetched.length, m + 1);
  leaderFsm.close();
  spareFsm.close();
  await Deno.remove(dir, { recursive: true });
});
