import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { GlobalFsm } from "../db/mod.ts";
import { silentLogger } from "../log/mod.ts";
import { SqliteStorage } from "../raft_store/mod.ts";
import { StatusError } from "../util/mod.ts";
import { Driver } from "./driver.ts";
import type { LogStorage, PersistBatch } from "./log_storage.ts";

/**
 * A driver over real storage and the real state machine. Voter 2 exists only in the
 * configuration and never answers, so that with two voters nothing commits: proposals, reads and
 * waits stay pending until the driver settles them.
 */
async function driver(voters: number[], tickMs = 10) {
  const dir = await Deno.makeTempDir();
  const db = new DatabaseSync(`${dir}/local.db`);
  db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL");
  const storage = new SqliteStorage(db, `${dir}/snapshot`);
  storage.bootstrap({ voters, standbys: [], spares: [] });
  const fsm = new GlobalFsm(`${dir}/global.db`);
  fsm.apply(1, 1, "");
  const d = new Driver({ id: 1, storage, fsm, log: silentLogger, send: () => {}, tickMs });
  d.start();
  return {
    d,
    fsm,
    close: () => {
      d.stop();
      fsm.close();
      db.close();
    },
  };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** How a promise settled, without waiting on it forever. */
function outcome(p: Promise<unknown>): { settled: boolean; error?: Error } {
  const o: { settled: boolean; error?: Error } = { settled: false };
  p.then(() => o.settled = true, (e) => {
    o.settled = true;
    o.error = e;
  });
  return o;
}

/**
 * A leader of two voters whose second never answers: nothing commits and no read is confirmed.
 * Ticks are slow so that it keeps leading (check-quorum) for the whole test.
 */
async function stuckLeader() {
  const t = await driver([1], 1_000);
  t.d.campaign();
  await until(() => t.d.isLeader(), "the lone voter to lead");
  // Committed by voter 1 alone; from then on every commit needs voter 2 too.
  await t.d.changeMembership({ type: "add-voter", id: 2 });
  return t;
}

Deno.test("Driver.stop() settles every waiter, and refuses whatever asks afterwards", async () => {
  const { d, fsm, close } = await stuckLeader();
  const waits = {
    applied: outcome(d.waitApplied(fsm.appliedIndex + 5)),
    read: outcome(d.readBarrier()),
  };
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(waits.applied.settled, false);
  assert.equal(waits.read.settled, false);
  d.stop();
  await until(() => Object.values(waits).every((w) => w.settled), "every waiter to settle after stop()");
  for (const w of Object.values(waits)) {
    assert.ok(w.error instanceof StatusError && w.error.status === 503, String(w.error));
    assert.match(w.error.message, /shutting down/);
  }
  // After stop(): refused at once, never left waiting.
  for (const p of [d.waitApplied(fsm.appliedIndex + 1), d.readBarrier(), d.leaderReady(), d.propose("")]) {
    await assert.rejects(p, /shutting down/);
  }
  close();
});

Deno.test("Driver.stop() tells a proposal in flight that its outcome is unknown", async () => {
  const { d, close } = await stuckLeader();
  const p = outcome(d.propose(""));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(p.settled, false, "nothing commits without the second voter");
  d.stop();
  await until(() => p.settled, "the proposal to settle");
  assert.match(p.error!.message, /may or may not have been made/);
  assert.equal(d.isLeader(), false);
  close();
});

Deno.test("a driver that fails settles every waiter with the failure", async () => {
  const { d, fsm, close } = await driver([1]);
  d.campaign();
  await until(() => d.isLeader(), "the lone voter to lead");
  const applied = outcome(d.waitApplied(fsm.appliedIndex + 100));
  // An entry the state machine cannot apply stops the member rather than let it diverge.
  const bad = outcome(d.propose("not a batch"));
  await until(() => applied.settled && bad.settled, "the waiters to settle after the failure");
  assert.match(applied.error!.message, /failed and stopped/);
  assert.ok(d.failed);
  await assert.rejects(d.waitApplied(fsm.appliedIndex + 1), /failed and stopped/);
  close();
});

Deno.test("a leader applies an entry only once its own write is durable, and takes no other Ready meanwhile", async () => {
  const dir = await Deno.makeTempDir();
  const db = new DatabaseSync(`${dir}/local.db`);
  db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL");
  const storage = new SqliteStorage(db, `${dir}/snapshot`);
  storage.bootstrap({ voters: [1], standbys: [], spares: [] });
  // A disk whose fsync ends when the test says so.
  const syncs: PromiseWithResolvers<void>[] = [];
  const slowWrite = (b: PersistBatch) => {
    const w = storage.persistAsync(b);
    if (!w) return null;
    const d = Promise.withResolvers<void>();
    syncs.push(d);
    return w.then(() => d.promise);
  };
  const slow = new Proxy(storage, {
    get(target, prop) {
      if (prop === "persistAsync") return slowWrite;
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as LogStorage;
  const fsm = new GlobalFsm(`${dir}/global.db`);
  fsm.apply(1, 1, "");
  const d = new Driver({ id: 1, storage: slow, fsm, log: silentLogger, send: () => {}, tickMs: 1_000 });
  d.start();
  d.campaign();
  // The new leader's empty entry is its first write that waits for the disk.
  await until(() => syncs.length === 1, "the leader's first write");
  assert.ok(d.isLeader());
  const ready = outcome(d.leaderReady());
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(ready.settled, false, "a lone voter's entry is committed, yet not applied before its fsync");
  syncs[0]!.resolve();
  await until(() => ready.settled, "the leader to be ready once its entry is durable");
  const first = outcome(d.propose(""));
  await until(() => syncs.length === 2, "the first proposal's write");
  const second = outcome(d.propose(""));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(syncs.length, 2, "no second write while the first is on its way");
  assert.equal(first.settled || second.settled, false);
  syncs[1]!.resolve();
  await until(() => first.settled, "the first proposal to apply");
  assert.equal(first.error, undefined);
  await until(() => syncs.length === 3, "the second proposal's write");
  assert.equal(second.settled, false, "the second waits for its own fsync");
  syncs[2]!.resolve();
  await until(() => second.settled, "the second proposal to apply");
  d.stop();
  fsm.close();
  db.close();
});
