/**
 * The simulator's parts on their own: the disk model, the clock, the network, the PRNG and the
 * invariant checks each fail when they should; and a whole run is a pure function of its seed.
 */
import assert from "node:assert/strict";
import type { ConfState, Entry } from "../../../lib/raft/types.ts";
import { Invariants, Violation } from "./invariants.ts";
import { Kv } from "./kv.ts";
import { Network } from "./network.ts";
import { EventQueue } from "./queue.ts";
import { Rng } from "../../../lib/util/rng.ts";
import { runSeed } from "./sim.ts";
import { SimStorage } from "./storage.ts";

const conf: ConfState = { voters: [1, 2, 3], standbys: [], spares: [] };
const ent = (index: number, term: number, data = `d${index}`): Entry => ({
  index,
  term,
  type: "normal",
  data,
});

Deno.test("the disk keeps entries, replaces a conflicting suffix and compacts behind a snapshot", () => {
  const s = new SimStorage(conf, new Kv().encode());
  assert.equal(s.firstIndex(), 1);
  assert.equal(s.lastIndex(), 0);
  assert.equal(s.term(0), 0);
  s.append([ent(1, 1), ent(2, 1), ent(3, 1)]);
  s.append([ent(2, 2)]);
  assert.equal(s.lastIndex(), 2);
  assert.equal(s.term(2), 2);
  assert.throws(() => s.append([ent(5, 2)]), /gap/);
  assert.deepEqual(s.entries(1, 3, 0).map((e) => e.index), [1], "at least one entry under a byte limit");
  s.append([ent(3, 2), ent(4, 2)]);
  s.createSnapshot(3, conf, new Uint8Array([1]), 2);
  assert.equal(s.firstIndex(), 3);
  assert.equal(s.term(2), 2, "the term at the compaction point stays answerable");
  assert.throws(() => s.term(1), (e: Error) => e.name === "CompactedError");
  assert.throws(() => s.entries(2, 4), (e: Error) => e.name === "CompactedError");
  assert.throws(() => s.term(9), (e: Error) => e.name === "UnavailableError");
  assert.equal(s.snapshot().meta.index, 3);
  s.applySnapshot({ meta: { index: 10, term: 4, conf }, data: new Uint8Array() });
  assert.equal(s.firstIndex(), 11);
  assert.equal(s.lastIndex(), 10);
  assert.equal(s.term(10), 4);
});

Deno.test("the clock orders events by time, then by when they were scheduled", () => {
  const q = new EventQueue<string>();
  q.after(5, "b");
  q.after(1, "a");
  q.after(5, "c");
  q.after(0, "z");
  const out: string[] = [];
  for (let e = q.take(); e !== undefined; e = q.take()) out.push(`${q.now}${e}`);
  assert.deepEqual(out, ["0z", "1a", "5b", "5c"]);
});

Deno.test("the network cuts one way or both, and heals", () => {
  const rng = new Rng(1);
  const net = new Network({ drop: 0, duplicate: 0, minDelay: 1, maxDelay: 3, slow: 0, slowDelay: 0 });
  net.cutOneWay(1, 2);
  assert.deepEqual(net.route(rng, 1, 2), []);
  assert.equal(net.route(rng, 2, 1).length, 1);
  net.partition([1], [3]);
  assert.ok(net.isCut(3, 1) && net.isCut(1, 3));
  net.heal();
  assert.equal(net.route(rng, 1, 2).length, 1);
  const lossy = new Network({ drop: 0.5, duplicate: 0.5, minDelay: 1, maxDelay: 3, slow: 0, slowDelay: 0 });
  const counts = [0, 0, 0];
  for (let i = 0; i < 1000; i++) counts[lossy.route(rng, 1, 2).length]!++;
  assert.ok(counts.every((c) => c > 100), `lost/once/twice: ${counts}`);
});

Deno.test("the PRNG replays from its seed and spreads evenly", () => {
  const a = new Rng(12345), b = new Rng(12345), c = new Rng(12346);
  const xs = Array.from({ length: 100 }, () => a.next());
  assert.deepEqual(xs, Array.from({ length: 100 }, () => b.next()));
  assert.notDeepEqual(xs, Array.from({ length: 100 }, () => c.next()));
  const buckets = new Array(10).fill(0);
  for (let i = 0; i < 10000; i++) buckets[a.int(10)]++;
  assert.ok(buckets.every((n) => n > 850 && n < 1150), `buckets: ${buckets}`);
});

Deno.test("the invariants reject two leaders in a term, divergent logs and divergent commits", () => {
  const inv = new Invariants();
  inv.leader(1, 3);
  inv.leader(1, 3);
  assert.throws(() => inv.leader(2, 3), (e: Violation) => e.check === "election safety");

  const s1 = new SimStorage(conf, new Uint8Array()), s2 = new SimStorage(conf, new Uint8Array());
  s1.append([ent(1, 1, "x")]);
  inv.appended(1, [ent(1, 1, "x")], s1);
  s2.append([ent(1, 1, "y")]);
  assert.throws(() => inv.appended(2, [ent(1, 1, "y")], s2), (e: Violation) => e.check === "log matching");

  const s3 = new SimStorage(conf, new Uint8Array());
  s3.append([ent(1, 2, "z")]);
  inv.commitAdvanced(1, 0, { term: 1, vote: 1, commit: 1 }, s1, 1);
  assert.throws(
    () => inv.commitAdvanced(3, 0, { term: 2, vote: 3, commit: 1 }, s3, 0),
    (e: Violation) => e.check === "state-machine safety",
  );
  assert.throws(
    () => inv.commitAdvanced(1, 1, { term: 1, vote: 1, commit: 0 }, s1, 0),
    (e: Violation) => e.check === "monotonic commit",
  );
  // A leader of a later term without the committed entry.
  assert.throws(() => inv.leaderComplete(3, 5, s3, 0), (e: Violation) => e.check === "leader completeness");
  assert.equal(inv.leaderComplete(1, 5, s1, 0), 1);
});

Deno.test("an acknowledged write that is later committed differently is reported", () => {
  const inv = new Invariants();
  inv.ack(1, 1, "w", "c1.0");
  const s = new SimStorage(conf, new Uint8Array());
  s.append([ent(1, 2, "other")]);
  assert.throws(
    () => inv.commitAdvanced(2, 0, { term: 2, vote: 2, commit: 1 }, s, 2),
    (e: Violation) => e.check === "acknowledged write lost",
  );
});

Deno.test("the driver contract: no vote or ack leaves before it is durable", () => {
  const inv = new Invariants();
  const s = new SimStorage(conf, new Uint8Array());
  s.hardState = { term: 2, vote: 0, commit: 0 };
  assert.throws(
    () => inv.sent(1, { type: "vote-resp", from: 1, to: 2, term: 2, reject: false }, s),
    (e: Violation) => e.check === "durable vote",
  );
  s.hardState = { term: 2, vote: 2, commit: 0 };
  inv.sent(1, { type: "vote-resp", from: 1, to: 2, term: 2, reject: false }, s);
  assert.throws(
    () => inv.sent(1, { type: "app-resp", from: 1, to: 2, term: 2, index: 4, reject: false, hint: 0 }, s),
    (e: Violation) => e.check === "durable ack",
  );
  assert.doesNotThrow(() =>
    new Invariants(false).sent(1, { type: "heartbeat-resp", from: 1, to: 2, term: 9, ctx: "" }, s)
  );
});

Deno.test("a run is a pure function of its seed", async () => {
  const a = await runSeed({ seed: 99, nodes: 5, steps: 1500 });
  const b = await runSeed({ seed: 99, nodes: 5, steps: 1500 });
  assert.equal(a.ok, true, a.error ?? "");
  assert.deepEqual(a.stats, b.stats);
  const c = await runSeed({ seed: 100, nodes: 5, steps: 1500 });
  assert.notDeepEqual(a.stats, c.stats);
  const f1 = await runSeed({ seed: 1, nodes: 5, steps: 3000, bug: "apply-before-commit" });
  const f2 = await runSeed({ seed: 1, nodes: 5, steps: 3000, bug: "apply-before-commit" });
  assert.equal(f1.ok, false);
  assert.deepEqual(f1.trace, f2.trace);
  assert.ok(f1.trace.length > 0 && f1.trace.length <= 40);
});

Deno.test("the workload exercises what it claims: elections, crashes, conf changes, snapshots, clients", async () => {
  const totals = {
    leaders: 0,
    crashes: 0,
    confChanges: 0,
    snapshotsTaken: 0,
    snapshotsInstalled: 0,
    acked: 0,
    reads: 0,
  };
  for (let seed = 1; seed <= 20; seed++) {
    const r = await runSeed({ seed, nodes: 5, steps: 3000 });
    assert.equal(r.ok, true, `seed ${seed}: ${r.error}`);
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r.stats[k];
  }
  for (const [k, v] of Object.entries(totals)) assert.ok(v > 0, `${k} never happened in 20 seeds`);
});

Deno.test("a read index answered to a member's earlier run does not answer a read of its next run (seed 634)", async () => {
  // The driver numbered its read contexts from 1 on every start: a delayed reply from before a
  // restart answered a new read with an older index (a stale read the linearizability check saw).
  const r = await runSeed({ seed: 634, nodes: 5, steps: 3000 });
  assert.equal(r.ok, true, r.error ?? "");
});
