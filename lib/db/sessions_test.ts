import assert from "node:assert/strict";
import { type BatchSession, encodeBatch, type Stmt } from "./batch.ts";
import { GlobalFsm } from "./fsm.ts";
import { GlobalDB, LocalConsensus } from "./global.ts";
import { ClientSession, UNKNOWN_SESSION } from "./sessions.ts";
import { defineTx, type TxDef } from "./tx.ts";

const insert = (v: string): Stmt[] => [{ sql: "INSERT INTO t (v) VALUES (?)", params: [v] }];

/** A state machine with one table t(v UNIQUE) and the session "s1" opened. */
async function fresh(options: { sessionExpiry?: number; sessionSweepEvery?: number } = {}) {
  const dir = await Deno.makeTempDir();
  const fsm = new GlobalFsm(`${dir}/db.sqlite`, options);
  const next = () => fsm.applied.index + 1;
  fsm.apply(next(), 1, encodeBatch([[{ sql: "CREATE TABLE t (v TEXT NOT NULL UNIQUE)", params: [] }]]));
  fsm.apply(next(), 1, encodeBatch([], [], ["s1"]));
  /** Applies one entry of session transactions; returns its outcomes. */
  const apply = (txs: { stmts: Stmt[]; s: BatchSession | null }[]) =>
    fsm.apply(next(), 1, encodeBatch(txs.map((t) => t.stmts), txs.map((t) => t.s)));
  const rows = () => fsm.read((r) => r.query<{ v: string }>("SELECT v FROM t ORDER BY v").map((x) => x.v));
  return { dir, fsm, apply, rows, next };
}

Deno.test("sessions: a duplicate is not applied again and gets the first outcome", async () => {
  const { fsm, apply, rows } = await fresh();
  const [first] = apply([{ stmts: insert("a"), s: { id: "s1", seq: 1, low: 1, r: { id: 7 } } }]);
  const firstIndex = fsm.applied.index;
  assert.deepEqual(first, { ok: true, result: { id: 7 }, index: firstIndex });
  // The same transaction again (a forward sent twice), with what a second run computed.
  const [again] = apply([{ stmts: insert("a-again"), s: { id: "s1", seq: 1, low: 1, r: { id: 8 } } }]);
  assert.deepEqual(again, { ok: true, result: { id: 7 }, index: firstIndex, duplicate: true });
  assert.deepEqual(rows(), ["a"]);
  fsm.close();
});

Deno.test("sessions: a duplicate inside the same entry is skipped too", async () => {
  const { fsm, apply, rows } = await fresh();
  const out = apply([
    { stmts: insert("x"), s: { id: "s1", seq: 1, low: 1, r: 1 } },
    { stmts: insert("y"), s: { id: "s1", seq: 1, low: 1, r: 2 } },
    { stmts: insert("z"), s: null },
  ]);
  assert.equal(out.length, 3);
  assert.equal(out[1]!.duplicate, true);
  assert.deepEqual(rows(), ["x", "z"]);
  fsm.close();
});

Deno.test("sessions: transactions may arrive out of order; each applies once", async () => {
  const { fsm, apply, rows } = await fresh();
  apply([{ stmts: insert("3"), s: { id: "s1", seq: 3, low: 1 } }]);
  // 1 and 2 were sent before 3 but reached the leader after it (another connection, a new leader).
  apply([{ stmts: insert("1"), s: { id: "s1", seq: 1, low: 1 } }]);
  apply([{ stmts: insert("2"), s: { id: "s1", seq: 2, low: 1 } }]);
  const [dup] = apply([{ stmts: insert("3b"), s: { id: "s1", seq: 3, low: 1 } }]);
  assert.equal(dup!.duplicate, true);
  assert.deepEqual(rows(), ["1", "2", "3"]);
  fsm.close();
});

Deno.test("sessions: a failure is the first outcome too; the duplicate is not tried again", async () => {
  const { fsm, apply, rows } = await fresh();
  apply([{ stmts: insert("taken"), s: null }]);
  const [failed] = apply([{ stmts: insert("taken"), s: { id: "s1", seq: 1, low: 1 } }]);
  assert.equal(failed!.ok, false);
  fsm.apply(fsm.applied.index + 1, 1, encodeBatch([[{ sql: "DELETE FROM t", params: [] }]]));
  // It would succeed now, but it already ran once.
  const [dup] = apply([{ stmts: insert("taken"), s: { id: "s1", seq: 1, low: 1 } }]);
  assert.equal(dup!.ok, false);
  assert.equal(dup!.duplicate, true);
  assert.match((dup as { error: string }).error, /UNIQUE/);
  assert.deepEqual(rows(), []);
  fsm.close();
});

Deno.test("sessions: outcomes below the sender's lowest waiting number are forgotten", async () => {
  const { fsm, apply, rows } = await fresh();
  apply([{ stmts: insert("1"), s: { id: "s1", seq: 1, low: 1 } }]);
  apply([{ stmts: insert("2"), s: { id: "s1", seq: 2, low: 1 } }]);
  // The sender has the answers of 1 and 2: it says so with low = 3.
  apply([{ stmts: insert("3"), s: { id: "s1", seq: 3, low: 3 } }]);
  const kept = fsm.read((r) =>
    r.query<{ seq: number }>("SELECT seq FROM raft_session_outcomes").map((x) => x.seq)
  );
  assert.deepEqual(kept, [3]);
  const [late] = apply([{ stmts: insert("1b"), s: { id: "s1", seq: 1, low: 1 } }]);
  assert.equal(late!.ok, false);
  assert.match((late as { error: string }).error, /already answered/);
  assert.deepEqual(rows(), ["1", "2", "3"]);
  fsm.close();
});

Deno.test("sessions: in one entry, the session's rows are written once and read as if per transaction", async () => {
  const { fsm, apply, rows } = await fresh();
  const out = apply([
    { stmts: insert("1"), s: { id: "s1", seq: 1, low: 1 } },
    { stmts: insert("2"), s: { id: "s1", seq: 2, low: 1 } },
    // The sender has the answers of 1 and 2 by now (low = 3): a late copy of 1 after it, in the
    // same entry, is refused as it would be in a later entry, and 3's duplicate is skipped.
    { stmts: insert("3"), s: { id: "s1", seq: 3, low: 3 } },
    { stmts: insert("1b"), s: { id: "s1", seq: 1, low: 1 } },
    { stmts: insert("3b"), s: { id: "s1", seq: 3, low: 3 } },
  ]);
  const index = fsm.applied.index;
  assert.deepEqual(out.slice(0, 3).map((o) => o.ok), [true, true, true]);
  assert.match((out[3] as { error: string }).error, /already answered/);
  assert.equal(out[4]!.duplicate, true);
  assert.deepEqual(rows(), ["1", "2", "3"]);
  assert.deepEqual(
    fsm.read((r) => r.query("SELECT seq, idx FROM raft_session_outcomes ORDER BY seq")).map((x) => ({
      ...x,
    })),
    [{ seq: 3, idx: index }],
  );
  assert.deepEqual(
    fsm.read((r) => r.query("SELECT used, low FROM raft_sessions WHERE id = 's1'")).map((x) => ({ ...x })),
    [{ used: index, low: 3 }],
  );
  fsm.close();
});

Deno.test("sessions: an unused session expires by log index, and its transactions are refused", async () => {
  const { fsm, apply, rows, next } = await fresh({ sessionExpiry: 20, sessionSweepEvery: 5 });
  fsm.apply(next(), 1, encodeBatch([], [], ["busy"]));
  apply([{ stmts: insert("a"), s: { id: "s1", seq: 1, low: 1 } }]);
  const used = fsm.applied.index;
  // Empty entries (a new leader's, membership changes) count too: the index is the clock.
  while (fsm.applied.index < used + 25) {
    fsm.apply(next(), 1, "");
    if (fsm.applied.index % 4 === 0) {
      apply([{ stmts: [], s: { id: "busy", seq: fsm.applied.index, low: 1 } }]);
    }
  }
  const sessions = () => fsm.read((r) => r.query<{ id: string }>("SELECT id FROM raft_sessions ORDER BY id"));
  assert.deepEqual(sessions().map((s) => s.id), ["busy"]);
  assert.equal(
    fsm.read((r) => r.query("SELECT * FROM raft_session_outcomes WHERE session = 's1'")).length,
    0,
  );
  const [refused] = apply([{ stmts: insert("a-again"), s: { id: "s1", seq: 1, low: 1 } }]);
  assert.equal(refused!.ok, false);
  assert.ok((refused as { error: string }).error.startsWith(UNKNOWN_SESSION));
  assert.deepEqual(rows(), ["a"]);
  fsm.close();
});

Deno.test("sessions: every member ends with the same table, also through a snapshot", async () => {
  const a = await fresh({ sessionExpiry: 6, sessionSweepEvery: 3 });
  const b = await fresh({ sessionExpiry: 6, sessionSweepEvery: 3 });
  const entries = [
    encodeBatch([insert("1")], [{ id: "s1", seq: 1, low: 1, r: "one" }]),
    encodeBatch([insert("1")], [{ id: "s1", seq: 1, low: 1, r: "dup" }]),
    "",
    encodeBatch([], [], ["s2"]),
    encodeBatch([insert("2")], [{ id: "s2", seq: 1, low: 1 }]),
    "",
    "",
    "",
    "",
    encodeBatch([insert("3")], [{ id: "s1", seq: 2, low: 2 }]),
  ];
  for (const data of entries) {
    const oa = a.fsm.apply(a.next(), 1, data);
    const ob = b.fsm.apply(b.next(), 1, data);
    assert.deepEqual(oa, ob);
  }
  const dump = (fsm: GlobalFsm) =>
    fsm.read((r) => [
      r.query("SELECT * FROM raft_sessions ORDER BY id"),
      r.query("SELECT * FROM raft_session_outcomes ORDER BY session, seq"),
    ]);
  assert.deepEqual(dump(a.fsm), dump(b.fsm));
  const c = new GlobalFsm(`${a.dir}/restored.sqlite`);
  c.restore(a.fsm.snapshot());
  assert.deepEqual(dump(c), dump(a.fsm));
  for (const x of [a.fsm, b.fsm, c]) x.close();
});

const add = defineTx("test.sessions.add", (tx, v: unknown) => {
  tx.exec("INSERT INTO t (v) VALUES (?)", String(v));
  return { v, n: tx.get<{ n: number }>("SELECT COUNT(*) AS n FROM t")!.n };
}) as TxDef<unknown, unknown>;

Deno.test("GlobalDB.execute() runs a session's transaction once however often it is sent", async () => {
  const { fsm } = await fresh();
  const db = new GlobalDB(fsm, new LocalConsensus(fsm));
  await db.openSession("s9");
  const ref = { id: "s9", seq: 1, low: 1 };
  // Sent twice at once (a forward re-sent while the first copy is in flight), then once more.
  const [x, y] = await Promise.all([db.execute(add, "one", ref), db.execute(add, "one", ref)]);
  assert.deepEqual(x, y);
  const index = fsm.applied.index;
  const z = await db.execute(add, "one", ref);
  assert.deepEqual(z, x);
  assert.equal(fsm.applied.index, index, "a copy of an applied transaction proposes nothing");
  assert.deepEqual(fsm.read((r) => r.query<{ v: string }>("SELECT v FROM t").map((x) => x.v)), ["one"]);
  await assert.rejects(db.execute(add, "two", { id: "never-opened", seq: 1, low: 1 }), (e: Error) => {
    assert.ok(e.message.startsWith(UNKNOWN_SESSION));
    return true;
  });
  assert.equal(fsm.read((r) => r.query("SELECT v FROM t")).length, 1);
  fsm.close();
});

Deno.test("ClientSession numbers transactions and knows the lowest still waiting", () => {
  const s = new ClientSession();
  assert.equal(s.id, "");
  const id = s.renew();
  assert.match(id, /^[0-9a-f]{32}$/);
  const [a, b, c] = [s.next(), s.next(), s.next()];
  assert.deepEqual([a, b, c], [1, 2, 3]);
  assert.equal(s.low, 1);
  s.done(2);
  assert.equal(s.low, 1);
  s.done(1);
  assert.deepEqual(s.ref(3), { id, seq: 3, low: 3 });
  s.done(3);
  assert.equal(s.low, 4);
  assert.notEqual(s.renew(), id);
  assert.equal(s.next(), 1);
});
