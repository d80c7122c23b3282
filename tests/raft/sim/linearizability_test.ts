/**
 * The checker on histories whose answer is known: textbook linearizable and non-linearizable
 * ones, pending writes, compare-and-set, per-key independence, and random histories generated
 * from a real atomic register (linearizable by construction) and then corrupted.
 */
import assert from "node:assert/strict";
import { checkKv, type KvInput, type KvOperation, type KvOutput } from "./linearizability.ts";
import { Rng } from "../../../lib/util/rng.ts";

const get = (client: number, key: string, value: string | null, call: number, ret: number): KvOperation => ({
  client,
  input: { op: "get", key },
  output: { value },
  call,
  ret,
});
const put = (client: number, key: string, value: string, call: number, ret = Infinity): KvOperation => ({
  client,
  input: { op: "put", key, value },
  output: ret === Infinity ? undefined : {},
  call,
  ret,
});
const cas = (
  client: number,
  key: string,
  expect: string | null,
  value: string,
  ok: boolean | undefined,
  call: number,
  ret: number,
): KvOperation => ({
  client,
  input: { op: "cas", key, expect, value },
  output: ok === undefined ? undefined : { ok },
  call,
  ret,
});

Deno.test("an empty history is linearizable", () => {
  assert.equal(checkKv([]).ok, true);
});

Deno.test("a sequential history that reads its writes is linearizable", () => {
  const h = [put(1, "x", "a", 0, 1), get(1, "x", "a", 2, 3), put(2, "x", "b", 4, 5), get(1, "x", "b", 6, 7)];
  assert.equal(checkKv(h).ok, true);
});

Deno.test("a read of a value overwritten before the read began is not linearizable", () => {
  const h = [put(1, "x", "a", 0, 1), put(2, "x", "b", 2, 3), get(1, "x", "a", 4, 5)];
  const r = checkKv(h);
  assert.equal(r.ok, false);
  if (r.ok === false) assert.match(r.reason, /key "x"/);
});

Deno.test("a read that sees nothing after a completed write is not linearizable", () => {
  assert.equal(checkKv([put(1, "x", "a", 0, 1), get(2, "x", null, 2, 3)]).ok, false);
});

Deno.test("a read concurrent with a write may see either value", () => {
  assert.equal(checkKv([put(1, "x", "a", 0, 10), get(2, "x", null, 1, 2)]).ok, true);
  assert.equal(checkKv([put(1, "x", "a", 0, 10), get(2, "x", "a", 1, 2)]).ok, true);
});

Deno.test("two reads during one write cannot see the new value and then the old one", () => {
  // The classic stale read: once a reader saw "a", a later read cannot go back to nil.
  const h = [put(1, "x", "a", 0, 10), get(2, "x", "a", 1, 2), get(3, "x", null, 3, 4)];
  assert.equal(checkKv(h).ok, false);
  const ok = [put(1, "x", "a", 0, 10), get(2, "x", null, 1, 2), get(3, "x", "a", 3, 4)];
  assert.equal(checkKv(ok).ok, true);
});

Deno.test("a read never written is not linearizable", () => {
  assert.equal(checkKv([put(1, "x", "a", 0, 1), get(2, "x", "zzz", 2, 3)]).ok, false);
});

Deno.test("a write with unknown outcome may take effect late or never", () => {
  assert.equal(checkKv([put(1, "x", "a", 0), get(2, "x", null, 5, 6)]).ok, true, "never");
  assert.equal(checkKv([put(1, "x", "a", 0), get(2, "x", "a", 5, 6)]).ok, true, "at once");
  assert.equal(
    checkKv([put(1, "x", "a", 0), get(2, "x", null, 5, 6), get(2, "x", "a", 7, 8)]).ok,
    true,
    "late",
  );
  assert.equal(
    checkKv([put(1, "x", "a", 0), get(2, "x", "a", 5, 6), get(2, "x", null, 7, 8)]).ok,
    false,
    "it cannot be undone once seen",
  );
  // Pending, but it cannot take effect before it was called.
  assert.equal(checkKv([get(2, "x", "a", 0, 1), put(1, "x", "a", 5)]).ok, false);
});

Deno.test("compare-and-set succeeds only on the expected value", () => {
  assert.equal(checkKv([cas(1, "x", null, "a", true, 0, 1), cas(2, "x", null, "b", true, 2, 3)]).ok, false);
  assert.equal(checkKv([cas(1, "x", null, "a", true, 0, 5), cas(2, "x", null, "b", true, 1, 6)]).ok, false);
  assert.equal(checkKv([cas(1, "x", null, "a", true, 0, 5), cas(2, "x", null, "b", false, 1, 6)]).ok, true);
  assert.equal(
    checkKv([put(1, "x", "a", 0, 1), cas(2, "x", "a", "b", true, 2, 3), get(1, "x", "b", 4, 5)]).ok,
    true,
  );
  assert.equal(checkKv([put(1, "x", "a", 0, 1), cas(2, "x", "a", "b", false, 2, 3)]).ok, false);
  // An unanswered cas may or may not have applied.
  const h = [put(1, "x", "a", 0, 1), cas(2, "x", "a", "b", undefined, 2, Infinity), get(1, "x", "b", 4, 5)];
  assert.equal(checkKv(h).ok, true);
});

Deno.test("keys are independent: a violation on one key is found among others", () => {
  const h = [
    put(1, "x", "a", 0, 1),
    put(2, "y", "b", 0, 1),
    get(1, "y", "b", 2, 3),
    get(2, "x", "a", 2, 3),
    put(3, "z", "c", 0, 1),
    get(3, "z", null, 4, 5),
  ];
  const r = checkKv(h);
  assert.equal(r.ok, false);
  if (r.ok === false) assert.match(r.reason, /key "z"/);
  assert.equal(checkKv(h.slice(0, 4)).ok, true);
});

/** A random history from an atomic register: each operation takes effect at one instant inside its interval. */
function registerHistory(rng: Rng, clients: number, ops: number, keys: string[]): KvOperation[] {
  const state = new Map<string, string | null>();
  const free = new Array(clients).fill(0);
  const planned: {
    at: number;
    client: number;
    input: KvInput;
    call: number;
    ret: number;
    pending: boolean;
  }[] = [];
  let n = 0;
  for (let i = 0; i < ops; i++) {
    const client = rng.int(clients);
    const call = free[client] + rng.int(5);
    const ret = call + 1 + rng.int(20);
    free[client] = ret + 1;
    const key = rng.pick(keys);
    const k = rng.int(10);
    const input: KvInput = k < 5
      ? { op: "get", key }
      : k < 8
      ? { op: "put", key, value: `v${n++}` }
      : { op: "cas", key, expect: rng.chance(0.5) ? null : `v${rng.int(n + 1)}`, value: `v${n++}` };
    const pending = input.op !== "get" && rng.chance(0.1);
    planned.push({ at: call + rng.next() * (ret - call), client, input, call, ret, pending });
  }
  // Apply in linearization order; a pending write may also never happen.
  const happens = planned.map((p) => !p.pending || rng.chance(0.5));
  const order = planned.map((_, i) => i).sort((a, b) => planned[a]!.at - planned[b]!.at);
  const outputs: (KvOutput | undefined)[] = new Array(planned.length);
  for (const i of order) {
    if (!happens[i]) continue;
    const { input } = planned[i]!;
    const cur = state.get(input.key) ?? null;
    if (input.op === "get") outputs[i] = { value: cur };
    else if (input.op === "put") state.set(input.key, input.value), outputs[i] = {};
    else {
      const hit = cur === input.expect;
      if (hit) state.set(input.key, input.value);
      outputs[i] = { ok: hit };
    }
  }
  return planned.map((p, i) => ({
    client: p.client,
    input: p.input,
    output: p.pending ? undefined : outputs[i],
    call: p.call,
    ret: p.pending ? Infinity : p.ret,
  }));
}

Deno.test("random histories of an atomic register are linearizable; corrupting one read breaks them", () => {
  const rng = new Rng(42);
  let broken = 0;
  for (let round = 0; round < 300; round++) {
    const h = registerHistory(rng, 2 + rng.int(4), 20 + rng.int(80), ["a", "b", "c"]);
    const r = checkKv(h);
    assert.equal(r.ok, true, `round ${round}: ${JSON.stringify(r)}`);
    // A read of a value no one ever wrote can never be explained.
    const reads = h.filter((o) => o.input.op === "get");
    if (reads.length === 0) continue;
    const victim = rng.pick(reads);
    victim.output = { value: "never-written" };
    assert.equal(checkKv(h).ok, false, `round ${round}: the corrupted read went unnoticed`);
    broken++;
  }
  assert.ok(broken > 250);
});

Deno.test("a read moved after a later overwrite is caught", () => {
  // Sequential writes and a read of the first value placed after the second write returned.
  const rng = new Rng(7);
  for (let round = 0; round < 100; round++) {
    const h: KvOperation[] = [];
    let t = 0;
    const n = 3 + rng.int(10);
    for (let i = 0; i < n; i++) {
      h.push(put(i % 3, "k", `w${i}`, t, t + 2));
      t += 3;
    }
    const stale = rng.int(n - 1);
    h.push(get(9, "k", `w${stale}`, t, t + 1));
    assert.equal(checkKv(h).ok, false);
  }
});

Deno.test("the cache keeps wide concurrent histories fast", () => {
  const rng = new Rng(3);
  const start = performance.now();
  const h = registerHistory(rng, 8, 1500, ["a", "b"]);
  assert.equal(checkKv(h).ok, true);
  assert.ok(performance.now() - start < 20_000, "checking 1500 operations took over 20 s");
});
