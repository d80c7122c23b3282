import assert from "node:assert/strict";
import { StatusError } from "../util/mod.ts";
import type { ForwardedResult, ForwardedTx } from "../wire/mod.ts";
import { ForwardQueue } from "./forwarding.ts";

const NOT_LEADER = "Leadership changed before the change was committed: retry";

/** A leader that holds each request until release() and answers with answer(). */
function fakeLeader(answer: (tx: ForwardedTx) => ForwardedResult) {
  const requests: ForwardedTx[][] = [];
  const held: (() => void)[] = [];
  return {
    requests,
    send: (txs: ForwardedTx[]) => {
      requests.push(txs);
      return new Promise<ForwardedResult[]>((resolve) => held.push(() => resolve(txs.map(answer))));
    },
    releaseAll: async () => {
      while (held.length > 0) held.shift()!();
      await new Promise((r) => setTimeout(r, 0));
    },
  };
}

const neverRan = (e: StatusError) => e.status === 503 && e.message.startsWith("Leadership changed");

Deno.test("ForwardQueue sends what arrives while requests are in flight together, in order", async () => {
  let n = 0;
  const leader = fakeLeader((tx) => ({ ok: true, result: tx.args, index: ++n }));
  const q = new ForwardQueue({
    send: leader.send,
    neverRan,
    retryForMs: 1000,
    maxInFlight: 1,
    leader: () => "a",
  });
  const first = q.forward({ name: "t", args: 0 });
  const rest = [1, 2, 3].map((i) => q.forward({ name: "t", args: i }));
  assert.deepEqual(leader.requests.map((r) => r.map((t) => t.args)), [[0]]);
  await leader.releaseAll();
  assert.deepEqual(leader.requests.map((r) => r.map((t) => t.args)), [[0], [1, 2, 3]]);
  await leader.releaseAll();
  assert.deepEqual(await first, { result: 0, index: 1 });
  assert.deepEqual(await Promise.all(rest), [1, 2, 3].map((i) => ({ result: i, index: i + 1 })));
});

Deno.test("ForwardQueue fails each transaction on its own, and sends again only what never ran", async () => {
  let refusals = 1;
  const leader = fakeLeader((tx): ForwardedResult => {
    if (tx.args === "bad") return { ok: false, status: 409, error: "already exists" };
    if (tx.args === "moved" && refusals-- > 0) return { ok: false, status: 503, error: NOT_LEADER };
    return { ok: true, result: tx.args, index: 7 };
  });
  const q = new ForwardQueue({ send: leader.send, neverRan, retryForMs: 1000, leader: () => "a" });
  const bad = assert.rejects(
    q.forward({ name: "t", args: "bad" }),
    (e) => e instanceof StatusError && e.status === 409 && e.message === "already exists",
  );
  const moved = q.forward({ name: "t", args: "moved" });
  const ok = q.forward({ name: "t", args: "ok" });
  await leader.releaseAll();
  await leader.releaseAll();
  await bad;
  assert.deepEqual(await ok, { result: "ok", index: 7 });
  assert.deepEqual(await moved, { result: "moved", index: 7 });
  assert.equal(leader.requests.flat().filter((t) => t.args === "moved").length, 2);
  assert.equal(leader.requests.flat().filter((t) => t.args === "bad").length, 1);
});

Deno.test("ForwardQueue stops sending again after its deadline, and passes a failed request to every caller", async () => {
  let now = 0;
  const leader = fakeLeader(() => ({ ok: false, status: 503, error: NOT_LEADER }));
  const q = new ForwardQueue({
    send: leader.send,
    neverRan,
    retryForMs: 100,
    now: () => now,
    leader: () => "a",
  });
  const p = assert.rejects(
    q.forward({ name: "t", args: 1 }),
    (e) => e instanceof StatusError && e.status === 503,
  );
  await leader.releaseAll();
  now = 200;
  await leader.releaseAll();
  await p;
  assert.equal(leader.requests.length, 2);

  const down = new ForwardQueue({
    send: () => Promise.reject(new StatusError(503, "The database leader did not answer")),
    neverRan,
    retryForMs: 100,
    leader: () => "a",
  });
  await Promise.all(
    [1, 2].map((i) => assert.rejects(down.forward({ name: "t", args: i }), /did not answer/)),
  );
});

Deno.test("ForwardQueue never holds a new leader's transactions behind requests stuck on the old one", async () => {
  let current = "a";
  const leader = fakeLeader((tx) => ({ ok: true, result: tx.args, index: 1 }));
  const q = new ForwardQueue({
    send: leader.send,
    neverRan,
    retryForMs: 1000,
    maxInFlight: 1,
    leader: () => current,
  });
  const stuck = q.forward({ name: "t", args: "to a" });
  const next = q.forward({ name: "t", args: "to b" });
  assert.equal(leader.requests.length, 1);
  current = "b";
  q.leaderChanged();
  assert.deepEqual(leader.requests.map((r) => r.map((t) => t.args)), [["to a"], ["to b"]]);
  await leader.releaseAll();
  assert.deepEqual(await Promise.all([stuck, next]), [{ result: "to a", index: 1 }, {
    result: "to b",
    index: 1,
  }]);
});
