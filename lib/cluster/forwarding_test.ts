import assert from "node:assert/strict";
import { CallLost } from "../transport/mod.ts";
import { StatusError } from "../util/mod.ts";
import type { ForwardedResult, ForwardedTx } from "../wire/mod.ts";
import { ForwardQueue, type ForwardQueueOptions } from "./forwarding.ts";

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

interface Call {
  leader: string;
  txs: ForwardedTx[];
  signal: AbortSignal;
  answer: (results: ForwardedResult[]) => void;
  fail: (e: unknown) => void;
}

/** Leaders that hold each call until the test answers it; sessions open at once. */
function fakeLeaders(o: Partial<ForwardQueueOptions> = {}) {
  const calls: Call[] = [];
  const opened: { leader: string; id: string }[] = [];
  let leader: string | null = "a";
  const q = new ForwardQueue({
    send: (l, txs, signal) =>
      new Promise((answer, fail) => {
        calls.push({ leader: l, txs, signal, answer, fail });
        signal.addEventListener("abort", () => fail(signal.reason), { once: true });
      }),
    open: (l, id) => {
      opened.push({ leader: l, id });
      return Promise.resolve();
    },
    leader: () => leader,
    retryForMs: 2_000,
    attemptMs: 1_000,
    retryDelayMs: 5,
    ...o,
  });
  return {
    q,
    calls,
    opened,
    setLeader(l: string | null) {
      leader = l;
      q.leaderChanged();
    },
    /** Waits until n calls were made (bounded). */
    async until(n: number) {
      for (let i = 0; i < 400 && calls.length < n; i++) await tick(5);
      assert.ok(calls.length >= n, `expected ${n} calls, saw ${calls.length}`);
      return calls[n - 1]!;
    },
  };
}

const ok = (index: number) => (t: ForwardedTx): ForwardedResult => ({ ok: true, result: t.args, index });

Deno.test("ForwardQueue opens its session first, numbers every transaction, and groups what arrives meanwhile", async () => {
  const f = fakeLeaders({ maxInFlight: 1 });
  const first = f.q.forward({ name: "t", args: 0 });
  const c1 = await f.until(1);
  const rest = [1, 2, 3].map((i) => f.q.forward({ name: "t", args: i }));
  await tick(20);
  assert.equal(f.calls.length, 1, "one call in flight at a time");
  assert.equal(f.opened.length, 1);
  const id = f.opened[0]!.id;
  assert.match(id, /^[0-9a-f]{32}$/);
  assert.deepEqual(c1.txs, [{ name: "t", args: 0, session: { id, seq: 1, low: 1 } }]);
  c1.answer(c1.txs.map(ok(1)));
  const c2 = await f.until(2);
  assert.deepEqual(c2.txs.map((t) => [t.args, t.session?.seq]), [[1, 2], [2, 3], [3, 4]]);
  assert.equal(c2.txs[0]!.session!.low, 2, "the first one's answer may be forgotten");
  c2.answer(c2.txs.map(ok(2)));
  assert.deepEqual(await first, { result: 0, index: 1 });
  assert.deepEqual(await Promise.all(rest), [1, 2, 3].map((i) => ({ result: i, index: 2 })));
  assert.equal(f.q.pending, 0);
});

Deno.test("ForwardQueue sends a transaction at once, beside calls in flight, with those of the same turn", async () => {
  const f = fakeLeaders();
  const first = f.q.forward({ name: "t", args: 0 });
  const c1 = await f.until(1);
  // c1 is unanswered: what comes now must not wait for it (the leader's next entry takes it).
  const two = [1, 2].map((i) => f.q.forward({ name: "t", args: i }));
  const c2 = await f.until(2);
  assert.deepEqual(c2.txs.map((t) => t.args), [1, 2], "raised in one turn, sent in one call");
  const three = f.q.forward({ name: "t", args: 3 });
  const c3 = await f.until(3);
  assert.deepEqual(c3.txs.map((t) => t.args), [3]);
  for (const [c, i] of [[c3, 7], [c1, 5], [c2, 6]] as const) c.answer(c.txs.map(ok(i)));
  assert.deepEqual(await first, { result: 0, index: 5 });
  assert.deepEqual(await Promise.all(two), [{ result: 1, index: 6 }, { result: 2, index: 6 }]);
  assert.deepEqual(await three, { result: 3, index: 7 });
  assert.equal(f.q.pending, 0);
});

Deno.test("ForwardQueue sends again, same number, after a refusal ('transferring' too) or a broken stream; other failures are the transaction's", async () => {
  const f = fakeLeaders();
  const bad = f.q.forward({ name: "t", args: "bad" });
  const moved = f.q.forward({ name: "t", args: "moved" });
  const c1 = await f.until(1);
  c1.answer([
    { ok: false, status: 409, error: "already exists" },
    { ok: false, status: 503, error: "Proposal refused: transferring" },
  ]);
  await assert.rejects(
    bad,
    (e) => e instanceof StatusError && e.status === 409 && e.message === "already exists",
  );
  const c2 = await f.until(2);
  assert.deepEqual(c2.txs.map((t) => [t.args, t.session?.seq]), [["moved", 2]]);
  c2.fail(new CallLost("The connection to member a broke before it answered", true));
  const c3 = await f.until(3);
  assert.deepEqual(c3.txs.map((t) => [t.args, t.session?.seq]), [["moved", 2]]);
  c3.answer([{ ok: true, result: "moved", index: 9 }]);
  assert.deepEqual(await moved, { result: "moved", index: 9 });
});

Deno.test("ForwardQueue lets the old leader's calls go when the leader changes, and sends them to the new one", async () => {
  const f = fakeLeaders({ maxInFlight: 1 });
  const stuck = f.q.forward({ name: "t", args: "x" });
  const c1 = await f.until(1);
  const later = f.q.forward({ name: "t", args: "y" });
  f.setLeader(null); // an election: no leader for a moment
  await tick(20);
  assert.ok(c1.signal.aborted, "the call to the old leader is let go");
  assert.equal(f.calls.length, 1, "nothing is sent while no leader is known");
  f.setLeader("b");
  const c2 = await f.until(2);
  assert.equal(c2.leader, "b");
  assert.deepEqual(c2.txs.map((t) => [t.args, t.session?.seq]), [["x", 1], ["y", 2]]);
  c2.answer(c2.txs.map(ok(5)));
  c1.answer(c1.txs.map(ok(4))); // the old leader's late answer is ignored
  assert.deepEqual(await Promise.all([stuck, later]), [{ result: "x", index: 5 }, { result: "y", index: 5 }]);
});

Deno.test("ForwardQueue sends again when the leader does not answer within attemptMs", async () => {
  const f = fakeLeaders({ attemptMs: 50 });
  const p = f.q.forward({ name: "t", args: 1 });
  const c1 = await f.until(1);
  const c2 = await f.until(2);
  assert.ok(c1.signal.aborted);
  assert.equal(c2.leader, "a");
  assert.deepEqual(c2.txs[0]!.session, c1.txs[0]!.session);
  c2.answer(c2.txs.map(ok(3)));
  assert.deepEqual(await p, { result: 1, index: 3 });
});

Deno.test("ForwardQueue opens a new session when the leaders no longer know its own", async () => {
  const f = fakeLeaders();
  const p = f.q.forward({ name: "t", args: 1 });
  const c1 = await f.until(1);
  const old = c1.txs[0]!.session!.id;
  c1.answer([{ ok: false, status: 503, error: `Unknown database client session ${old}: it expired` }]);
  const c2 = await f.until(2);
  assert.equal(f.opened.length, 2);
  const renewed = c2.txs[0]!.session!;
  assert.notEqual(renewed.id, old);
  assert.equal(renewed.id, f.opened[1]!.id);
  assert.equal(renewed.seq, 1);
  c2.answer(c2.txs.map(ok(8)));
  assert.deepEqual(await p, { result: 1, index: 8 });
});

Deno.test("ForwardQueue fails after retryForMs saying whether the change may have been made, and stop() fails the rest", async () => {
  const f = fakeLeaders({ retryForMs: 100, attemptMs: 40 });
  // Sent, never answered: the outcome is unknown.
  const sent = assert.rejects(
    f.q.forward({ name: "t", args: 1 }),
    (e) => e instanceof StatusError && e.status === 503 && /may or may not have been made/.test(e.message),
  );
  await sent;
  // Never sent (no leader): certainly not made.
  f.setLeader(null);
  await assert.rejects(
    f.q.forward({ name: "t", args: 2 }),
    (e) => e instanceof StatusError && e.status === 503 && /The change was not made/.test(e.message),
  );
  const g = fakeLeaders();
  const inFlight = g.q.forward({ name: "t", args: 3 });
  await g.until(1);
  g.q.stop();
  await assert.rejects(inFlight, /may or may not have been made: this member is shutting down/);
  await assert.rejects(
    g.q.forward({ name: "t", args: 4 }),
    /The change was not made: this member is shutting down/,
  );
  assert.equal(g.q.pending, 0);
});
