import assert from "node:assert/strict";
import { LivenessTable, SILENT_AFTER_MS } from "./liveness.ts";

function clocked(start = 1_000_000) {
  let now = start;
  return { clock: () => now, advance: (ms: number) => (now += ms) };
}

const A = "10.0.0.1:8443";
const B = "10.0.0.2:8443";
const C = "10.0.0.3:8443";
const members = [{ name: "a", address: A }, { name: "b", address: B }, { name: "c", address: C }];

Deno.test("the leader marks a member offline once it has been silent for the threshold, and back when it answers", () => {
  const t = clocked();
  const live = new LivenessTable(t.clock);
  live.track([A, B, C]);
  t.advance(10_999);
  live.seen(A);
  assert.equal(live.of(B, { self: false, leading: true, thresholdMs: 11_000 }).online, true);
  t.advance(1);
  const b = live.of(B, { self: false, leading: true, thresholdMs: 11_000 });
  assert.equal(b.online, false);
  assert.equal(b.silentMs, 11_000);
  live.seen(B);
  assert.equal(live.of(B, { self: false, leading: true, thresholdMs: 11_000 }).online, true);
});

Deno.test("a heartbeat names only the silent members, and followers age it by when it arrived", () => {
  const t = clocked();
  const leader = new LivenessTable(t.clock);
  leader.track([A, B, C]);
  t.advance(5_000);
  leader.seen(A);
  leader.seen(B);
  const hb = leader.heartbeat("a", 3, members);
  assert.deepEqual(hb.silent.map((m) => m.address), [C]);
  assert.equal(hb.silent[0]!.silentMs, 5_000);

  const f = new LivenessTable(t.clock);
  f.received(hb);
  t.advance(5_999);
  assert.equal(f.of(B, { self: false, leading: false, thresholdMs: 11_000 }).online, true);
  assert.equal(f.of(C, { self: false, leading: false, thresholdMs: 11_000 }).online, true);
  t.advance(1);
  // C: 5 s silent when the heartbeat left, 6 s since: 11 s.
  assert.equal(f.of(C, { self: false, leading: false, thresholdMs: 11_000 }).online, false);
  assert.equal(f.of(B, { self: false, leading: false, thresholdMs: 11_000 }).online, true);
  // No word from the leader for the threshold: nobody is vouched for.
  t.advance(5_000);
  assert.equal(f.of(B, { self: false, leading: false, thresholdMs: 11_000 }).online, false);
});

Deno.test("a member that announced a graceful stop is offline at once, on the leader and its followers", () => {
  const t = clocked();
  const leader = new LivenessTable(t.clock);
  leader.track([A, B]);
  leader.stopping(B);
  assert.equal(leader.of(B, { self: false, leading: true, thresholdMs: 20_000 }).online, false);
  const hb = leader.heartbeat("a", 1, members.slice(0, 2));
  assert.deepEqual(hb.silent.map((m) => [m.address, m.stopped]), [[B, true]]);
  const f = new LivenessTable(t.clock);
  f.received(hb);
  assert.equal(f.of(B, { self: false, leading: false, thresholdMs: 20_000 }).online, false);
  assert.ok(SILENT_AFTER_MS < 11_000);
});

Deno.test("before its first heartbeat a member shows the others online until a threshold of silence has passed", () => {
  const t = clocked();
  const f = new LivenessTable(t.clock);
  t.advance(10_999);
  assert.equal(f.of(A, { self: false, leading: false, thresholdMs: 11_000 }).online, true);
  t.advance(1);
  assert.equal(f.of(A, { self: false, leading: false, thresholdMs: 11_000 }).online, false);
  // Joining a cluster starts the count again.
  f.restart();
  assert.equal(f.of(A, { self: false, leading: false, thresholdMs: 11_000 }).online, true);
});

Deno.test("a new leader counts silence from the last leader's heartbeat, when it is recent", () => {
  const t = clocked();
  const old = new LivenessTable(t.clock);
  old.track([A, B, C]);
  t.advance(3_000);
  old.seen(A); // the leader itself, each round
  old.seen(B);
  const hb = old.heartbeat("a", 3, members); // C silent 3 s
  const next = new LivenessTable(t.clock);
  next.received(hb);
  t.advance(1_000); // the election
  next.resetLeader([A, B, C]);
  const at = (x: string) => next.of(x, { self: false, leading: true, thresholdMs: 11_000 });
  assert.equal(at(A).silentMs, 1_000, "the dead leader: silent since its last heartbeat");
  assert.equal(at(C).silentMs, 4_000, "silent before, still silent");
  t.advance(9_999);
  assert.equal(at(A).online, true);
  t.advance(1);
  assert.equal(at(A).online, false, "OFFLINE a threshold after the last heartbeat, not after the election");
  assert.equal(at(C).online, false);
  assert.equal(at(B).online, false, "B never answered the new leader either");

  // A heartbeat older than a few seconds says little: silence counts from the new leadership.
  const late = new LivenessTable(t.clock);
  late.received(hb);
  t.advance(30_000);
  late.resetLeader([A, B, C]);
  assert.equal(late.of(A, { self: false, leading: true, thresholdMs: 11_000 }).silentMs, 0);
});

Deno.test("a member's problem told in its answer reaches every member through the heartbeat, and clears when it stops telling it", () => {
  const t = clocked();
  const leader = new LivenessTable(t.clock);
  leader.track([A, B, C]);
  const full =
    "Database disk full since then (database or disk is full): free space in /var/lib/shoal/database";
  leader.seen(B, full);
  leader.seen(C, null);
  const opts = { self: false, leading: true, thresholdMs: 11_000 };
  assert.equal(leader.of(B, opts).problem, full);
  assert.equal(leader.of(B, opts).online, true, "it answers: still online");
  assert.equal(leader.of(C, opts).problem, "");

  const hb = leader.heartbeat("a", 1, members);
  assert.deepEqual(hb.problems, [{ address: B, message: full }], "only the members with a problem");
  const f = new LivenessTable(t.clock);
  f.received(hb);
  assert.equal(f.of(B, { ...opts, leading: false }).problem, full);
  assert.equal(f.of(C, { ...opts, leading: false }).problem, "");

  leader.seen(B, undefined); // an older member's answer carries none
  f.received(leader.heartbeat("a", 1, members));
  assert.equal(f.of(B, { ...opts, leading: false }).problem, "");

  // A heartbeat from an older leader has no problems at all.
  f.received({ leader: "a", term: 1, silent: [] });
  assert.equal(f.of(B, { ...opts, leading: false }).problem, "");
});
