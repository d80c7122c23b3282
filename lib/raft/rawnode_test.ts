import assert from "node:assert/strict";
import { TestNet } from "../../tests/raft/testing.ts";
import type { ConfState, Message } from "./types.ts";

const V3: ConfState = { voters: [1, 2, 3], standbys: [], spares: [] };

function net3(opts = {}, conf = V3): TestNet {
  const net = new TestNet(opts);
  for (const id of [...conf.voters, ...conf.standbys, ...conf.spares]) net.add(id, conf);
  return net;
}

const sent = (net: TestNet, pred: (m: Message) => boolean) => net.delivered.filter(pred);

Deno.test("a proposal on a follower is refused with the leader's id", () => {
  const net = net3();
  net.elect(1);
  assert.deepEqual(net.get(2).rn.propose("x"), { ok: false, reason: "not-leader", leader: 1 });
});

Deno.test("read index on the leader is served after a heartbeat quorum round", () => {
  const net = net3();
  net.elect(1);
  net.get(1).rn.propose("a");
  net.stabilize();
  net.delivered = [];
  net.get(1).rn.readIndex("r1");
  net.processReady(1);
  assert.deepEqual(net.get(1).readStates, [], "no ReadState before the quorum answered");
  net.stabilize();
  assert.deepEqual(net.get(1).readStates, [{ index: 3, ctx: "r1" }]);
  assert.ok(sent(net, (m) => m.type === "heartbeat" && m.ctx === "r1").length >= 2);
});

Deno.test("read index on a follower is forwarded to the leader", () => {
  const net = net3();
  net.elect(1);
  net.get(3).rn.readIndex("r2");
  net.stabilize();
  assert.deepEqual(net.get(3).readStates, [{ index: 2, ctx: "r2" }]);
});

Deno.test("read index waits until the leader committed an entry of its term", () => {
  const net = net3();
  net.get(1).rn.campaign();
  // Deliver votes only, so that the leader's empty entry does not commit yet.
  net.processReady(1);
  net.deliver();
  net.processReady(2);
  net.processReady(3);
  net.deliver();
  assert.equal(net.get(1).rn.status().role, "leader");
  net.get(1).rn.readIndex("early");
  assert.equal(net.get(1).readStates.length, 0);
  net.stabilize();
  assert.deepEqual(net.get(1).readStates, [{ index: 2, ctx: "early" }]);
});

Deno.test("an isolated leader serves no read index (and with stale-read it does)", () => {
  for (const staleRead of [false, true]) {
    const net = net3({ bugs: { staleRead } });
    net.elect(1);
    net.isolate(1);
    net.get(1).rn.readIndex("r");
    net.stabilize();
    assert.equal(net.get(1).readStates.length, staleRead ? 1 : 0);
  }
});

Deno.test("check-quorum: a leader cut off from the quorum steps down", () => {
  const net = net3({ checkQuorum: true });
  net.elect(1);
  net.isolate(1);
  net.tickAll(25);
  assert.notEqual(net.get(1).rn.status().role, "leader");
});

Deno.test("pre-vote and check-quorum: a member cut off and back does not depose the leader", () => {
  const net = net3({ preVote: true, checkQuorum: true });
  net.elect(1);
  const term = net.get(1).rn.status().term;
  net.isolate(3);
  net.tickAll(100);
  net.heal();
  net.tickAll(30);
  assert.equal(net.get(1).rn.status().role, "leader");
  assert.equal(net.get(1).rn.status().term, term);
  assert.equal(net.get(3).rn.status().lead, 1);
});

Deno.test("without pre-vote a member cut off and back raises the term and disrupts", () => {
  const net = net3({ checkQuorum: false, preVote: false });
  net.elect(1);
  const term = net.get(1).rn.status().term;
  net.isolate(3);
  net.tickAll(100);
  assert.ok(net.get(3).rn.status().term > term + 1);
  net.heal();
  net.tickAll(50);
  assert.ok(net.get(1).rn.status().term > term);
});

Deno.test("leadership transfer catches the transferee up, then it wins", () => {
  const net = net3({ preVote: true, checkQuorum: true });
  net.elect(1);
  net.isolate(3);
  net.get(1).rn.propose("a");
  net.stabilize();
  net.heal();
  net.get(1).rn.transferLeader(3);
  assert.deepEqual(net.get(1).rn.propose("refused"), { ok: false, reason: "transferring", leader: 1 });
  net.stabilize();
  assert.equal(net.get(3).rn.status().role, "leader");
  assert.equal(net.get(1).rn.status().lead, 3);
  assert.ok(sent(net, (m) => m.type === "timeout-now" && m.to === 3).length === 1);
});

Deno.test("leadership transfer is abandoned after an election timeout", () => {
  const net = net3();
  net.elect(1);
  net.isolate(3);
  net.get(1).rn.transferLeader(3);
  assert.equal(net.get(1).rn.propose("x").ok, false);
  net.tickAll(11);
  assert.equal(net.get(1).rn.status().role, "leader");
  assert.equal(net.get(1).rn.propose("x").ok, true);
});

Deno.test("a stand-by joins through a snapshot, gets the log, never votes and can be promoted", () => {
  const net = net3();
  net.elect(1);
  net.get(1).rn.propose("a");
  net.stabilize();
  net.compact(1);
  net.add(4); // a joiner: empty configuration
  net.tickAll(40);
  assert.equal(net.get(4).rn.status().role, "follower", "a joiner never campaigns");
  assert.equal(net.get(4).rn.status().term, 0);
  const r = net.get(1).rn.proposeConfChange({ type: "add-standby", id: 4 });
  assert.ok(r.ok);
  net.stabilize();
  assert.deepEqual(net.get(4).applied, ["a"]);
  assert.ok(sent(net, (m) => m.type === "snap" && m.to === 4).length >= 1);
  assert.deepEqual(net.get(4).rn.confState(), { voters: [1, 2, 3], standbys: [4], spares: [] });
  // Stand-by: no vote requests go to it and it does not count for commitment.
  net.isolate(2, 3);
  net.get(1).rn.propose("b");
  net.stabilize();
  assert.equal(net.get(4).applied.length, 1, "two of four members are not a quorum of voters");
  net.heal();
  net.tickAll(3);
  assert.deepEqual(net.get(4).applied, ["a", "b"]);
  net.tickAll(40);
  assert.equal(net.get(4).rn.status().role, "follower");
  // Promote.
  assert.ok(net.get(1).rn.proposeConfChange({ type: "add-voter", id: 4 }).ok);
  net.stabilize();
  assert.deepEqual(net.get(1).rn.confState().voters, [1, 2, 3, 4]);
  // With 1 cut off, 2, 3 and 4 are exactly the quorum of four voters: 4's vote is needed.
  net.isolate(1);
  net.tickAll(60);
  const l = net.leader();
  assert.ok(l && l.id !== 1, "a leader among 2, 3, 4");
  assert.ok(net.delivered.some((m) => m.type === "vote-resp" && m.from === 4 && !m.reject));
});

Deno.test("a spare gets no log and no snapshot, and heartbeats only once an election timeout", () => {
  const conf: ConfState = { voters: [1, 2, 3], standbys: [], spares: [4] };
  const net = net3({}, conf);
  net.elect(1);
  net.get(1).rn.propose("a");
  net.stabilize();
  net.compact(1);
  net.tickAll(3);
  net.stabilize();
  assert.ok(net.get(2).applied.includes("a"));
  assert.deepEqual(net.get(4).applied, [], "the spare holds nothing");
  assert.ok(net.get(4).storage.lastIndex() <= 1, "no more than the configuration it started with");
  assert.equal(sent(net, (m) => (m.type === "app" || m.type === "snap") && m.to === 4).length, 0);
  const before = net.delivered.length;
  net.tickAll(20);
  const beats = (to: number) =>
    net.delivered.slice(before).filter((m) => m.type === "heartbeat" && m.from === 1 && m.to === to).length;
  assert.ok(beats(4) > 0, "the spare hears from the leader");
  assert.ok(beats(4) * 3 <= beats(2), `spare ${beats(4)} heartbeats, voter ${beats(2)}`);
  assert.equal(net.get(4).rn.status().lead, 1, "the spare knows the leader");
  assert.deepEqual(net.get(4).applied, []);
});

Deno.test("a spare promoted gets a snapshot and the log before it counts; demoted, it gets nothing more", () => {
  const conf: ConfState = { voters: [1, 2, 3], standbys: [], spares: [4] };
  const net = net3({}, conf);
  net.elect(1);
  net.get(1).rn.propose("a");
  net.stabilize();
  net.compact(1);
  assert.ok(net.get(1).rn.proposeConfChange({ type: "add-standby", id: 4 }).ok);
  net.stabilize();
  net.tickAll(3);
  net.stabilize();
  assert.ok(sent(net, (m) => m.type === "snap" && m.to === 4).length >= 1, "a snapshot brings it up");
  assert.ok(net.get(4).applied.includes("a"));
  const l1 = net.get(1).storage.lastIndex();
  assert.equal(net.get(1).rn.status().progress?.[4]?.match, l1);
  // Back to spare: the next entries do not reach it.
  assert.ok(net.get(1).rn.proposeConfChange({ type: "add-spare", id: 4 }).ok);
  net.stabilize();
  const had = net.get(4).applied.length;
  net.get(1).rn.propose("b");
  net.stabilize();
  net.tickAll(3);
  net.stabilize();
  assert.ok(net.get(2).applied.includes("b"));
  assert.equal(net.get(4).applied.length, had, "a spare is sent no entries");
  // A spare promoted straight to voter is not counted before it acknowledges: its progress is new.
  assert.ok(net.get(1).rn.proposeConfChange({ type: "add-voter", id: 4 }).ok);
  net.stabilize();
  net.tickAll(3);
  net.stabilize();
  assert.deepEqual(net.get(1).rn.confState().voters, [1, 2, 3, 4]);
  assert.ok(net.get(4).applied.includes("b"), "promoted, it gets the log again");
});

Deno.test("one conf change at a time; invalid ones are refused", () => {
  const net = net3();
  net.elect(1);
  const rn = net.get(1).rn;
  assert.equal(rn.proposeConfChange({ type: "add-voter", id: 2 }).ok, false);
  assert.deepEqual(rn.proposeConfChange({ type: "remove", id: 9 }), {
    ok: false,
    reason: "invalid",
    leader: 1,
  });
  assert.ok(rn.proposeConfChange({ type: "add-standby", id: 4 }).ok);
  assert.deepEqual(rn.proposeConfChange({ type: "add-spare", id: 5 }), {
    ok: false,
    reason: "conf-change-pending",
    leader: 1,
  });
  net.stabilize();
  assert.ok(rn.proposeConfChange({ type: "add-spare", id: 5 }).ok);
});

Deno.test("a removed leader steps down and the others elect a successor", () => {
  const net = net3();
  net.elect(1);
  assert.ok(net.get(1).rn.proposeConfChange({ type: "remove", id: 1 }).ok);
  net.stabilize();
  assert.equal(net.get(1).rn.status().role, "follower");
  net.tickAll(40);
  const l = net.leader()!;
  assert.ok(l.id === 2 || l.id === 3);
  assert.ok(l.rn.propose("after").ok);
  net.stabilize();
  assert.deepEqual(net.get(2).applied, ["after"]);
  assert.deepEqual(net.get(2).rn.confState().voters, [2, 3]);
  // The removed member never campaigns.
  net.tickAll(40);
  assert.notEqual(net.get(1).rn.status().role, "leader");
});

Deno.test("demoting a voter to stand-by shrinks the quorum", () => {
  const net = net3();
  net.elect(1);
  assert.ok(net.get(1).rn.proposeConfChange({ type: "add-standby", id: 3 }).ok);
  net.stabilize();
  net.isolate(3);
  assert.ok(net.get(1).rn.propose("x").ok);
  net.stabilize();
  assert.deepEqual(net.get(2).applied, ["x"]);
});

Deno.test("a follower that fell behind a compacted log catches up by snapshot", () => {
  const net = net3();
  net.elect(1);
  net.isolate(3);
  for (let i = 0; i < 5; i++) net.get(1).rn.propose(`e${i}`);
  net.stabilize();
  net.compact(1);
  net.heal();
  net.tickAll(3);
  assert.deepEqual(net.get(3).applied, ["e0", "e1", "e2", "e3", "e4"]);
  assert.equal(net.get(3).storage.snapshot().meta.index, net.get(1).storage.snapshot().meta.index);
  net.get(1).rn.propose("e5");
  net.stabilize();
  assert.deepEqual(net.get(3).applied.at(-1), "e5");
});

Deno.test("a lost snapshot is sent again after the snapshot timeout", () => {
  const net = net3({ snapshotTimeoutTick: 5 });
  net.elect(1);
  net.isolate(3);
  net.get(1).rn.propose("a");
  net.stabilize();
  net.compact(1);
  net.heal();
  // Drop the first snapshot on the wire.
  let dropped = 0;
  for (let i = 0; i < 5 && dropped === 0; i++) {
    for (const id of [1, 2, 3]) net.tick(id);
    for (let j = 0; j < 3; j++) {
      for (const id of [1, 2, 3]) net.processReady(id);
      net.queue = net.queue.filter((m) => m.type !== "snap" || (dropped++, false));
      net.deliver();
    }
  }
  assert.equal(dropped, 1);
  assert.equal(net.get(1).rn.status().progress![3]!.state, "snapshot");
  net.tickAll(8);
  assert.deepEqual(net.get(3).applied, ["a"]);
});

Deno.test("replicate state keeps at most maxInflightMsgs appends in flight", () => {
  const net = net3({ maxInflightMsgs: 2, maxSizePerMsg: 0 });
  net.elect(1);
  net.stabilize();
  for (let i = 0; i < 10; i++) net.get(1).rn.propose(`p${i}`);
  net.processReady(1);
  const apps = net.queue.filter((m) => m.type === "app" && m.to === 2 && m.entries.length > 0);
  assert.equal(apps.length, 2);
  net.stabilize();
  assert.equal(net.get(2).applied.length, 10);
});

Deno.test("the inflight byte bound pauses replication", () => {
  const net = net3({ maxInflightBytes: 10, maxSizePerMsg: 0 });
  net.elect(1);
  net.stabilize();
  for (let i = 0; i < 5; i++) net.get(1).rn.propose("0123456789");
  net.processReady(1);
  const apps = net.queue.filter((m) => m.type === "app" && m.to === 2 && m.entries.length > 0);
  assert.equal(apps.length, 1);
  net.stabilize();
  assert.equal(net.get(2).applied.length, 5);
});

Deno.test("a restarted member keeps its term, vote and log", () => {
  const net = net3();
  net.elect(1);
  net.get(1).rn.propose("a");
  net.stabilize();
  const before = net.get(2).rn.status();
  net.restart(2);
  const after = net.get(2).rn.status();
  assert.equal(after.term, before.term);
  assert.equal(after.vote, before.vote);
  net.tickAll(2);
  assert.deepEqual(net.get(2).applied, ["a"]);
});

Deno.test("reportUnreachable moves a replicating peer to probe", () => {
  const net = net3();
  net.elect(1);
  net.get(1).rn.propose("a");
  net.stabilize();
  assert.equal(net.get(1).rn.status().progress![2]!.state, "replicate");
  net.get(1).rn.reportUnreachable(2);
  assert.equal(net.get(1).rn.status().progress![2]!.state, "probe");
});

Deno.test("malformed messages are dropped quietly", () => {
  const net = net3();
  net.elect(1);
  const rn = net.get(2).rn;
  const bad: unknown[] = [
    null,
    {},
    { type: "app", from: 1, to: 2, term: 1 },
    { type: "app", from: 1, to: 2, term: 99, index: 0, logTerm: 0, commit: 999, entries: [{ index: "x" }] },
    { type: "nope", from: 1, to: 2, term: 5 },
    { type: "heartbeat", from: 1, to: 3, term: 9, commit: 0, ctx: "" },
    {
      type: "app",
      from: 1,
      to: 2,
      term: 1,
      index: 1,
      logTerm: 1,
      commit: 0,
      entries: [
        { index: 5, term: 1, type: "normal", data: "gap" },
      ],
    },
  ];
  for (const m of bad) rn.step(m as Message);
  net.stabilize();
  assert.equal(rn.status().lead, 1);
  assert.ok(net.get(1).rn.propose("ok").ok);
  net.stabilize();
  assert.deepEqual(net.get(2).applied, ["ok"]);
});

Deno.test("a leader that removed itself hands over while a voter is cut off", () => {
  const V5: ConfState = { voters: [1, 2, 3, 4, 5], standbys: [], spares: [] };
  const net = net3({}, V5);
  net.elect(1);
  net.get(1).rn.propose("a");
  net.stabilize();
  assert.ok(net.get(1).rn.proposeConfChange({ type: "remove", id: 1 }).ok);
  // 2, first in line, is cut off as soon as 1 has applied its removal.
  for (let i = 0; i < 10 && net.get(1).rn.confState().voters.includes(1); i++) {
    for (const id of V5.voters) net.processReady(id);
    net.deliver();
  }
  net.isolate(2);
  net.tickAll(60);
  const l = net.leader()!;
  assert.ok([3, 4, 5].includes(l.id), `leader ${l.id}`);
  assert.ok(l.rn.propose("b").ok);
  net.stabilize();
  assert.deepEqual(net.get(l.id).applied, ["a", "b"]);
});
