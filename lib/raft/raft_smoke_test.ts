import assert from "node:assert/strict";
import { TestNet } from "../../tests/raft/testing.ts";

const V3 = { voters: [1, 2, 3], standbys: [], spares: [] };

function net3(opts = {}) {
  const net = new TestNet(opts);
  for (const id of [1, 2, 3]) net.add(id, V3);
  return net;
}

Deno.test("smoke: election, replication, commit", () => {
  const net = net3();
  net.elect(1);
  assert.equal(net.get(1).rn.status().role, "leader");
  const r = net.get(1).rn.propose("a");
  assert.ok(r.ok);
  net.stabilize();
  for (const id of [1, 2, 3]) assert.deepEqual(net.get(id).applied, ["a"]);
});

Deno.test("smoke: pre-vote and check-quorum elect by ticking", () => {
  const net = net3({ preVote: true, checkQuorum: true });
  net.tickAll(30);
  const l = net.leader();
  assert.ok(l);
  l.rn.propose("x");
  net.stabilize();
  for (const id of [1, 2, 3]) assert.deepEqual(net.get(id).applied, ["x"]);
});

Deno.test("leaderLost: followers that saw the leader's connection close elect within a few ticks", () => {
  const net = net3({ preVote: true, checkQuorum: true });
  net.elect(1);
  const timeout = 10; // TestNet's electionTick
  net.isolate(1); // dead: nothing to or from it
  // Not the leader, or not this member's leader: nothing changes.
  net.get(2).rn.leaderLost(3);
  net.get(1).rn.leaderLost(2);
  assert.equal(net.get(1).rn.status().role, "leader");
  for (const id of [2, 3]) net.get(id).rn.leaderLost(1);
  let ticks = 0;
  while (![2, 3].some((id) => net.get(id).rn.status().role === "leader") && ticks < 4) {
    net.tick(2);
    net.tick(3);
    net.stabilize();
    ticks++;
  }
  assert.ok([2, 3].some((id) => net.get(id).rn.status().role === "leader"), `no leader after ${ticks} ticks`);
  assert.ok(ticks <= 4 && ticks < timeout);
});

Deno.test("leaderLost: one follower alone cannot unseat a leader the other still hears", () => {
  const net = net3({ preVote: true, checkQuorum: true });
  net.elect(1);
  const term = net.get(1).rn.status().term;
  net.cutOneWay(1, 2);
  net.cutOneWay(2, 1);
  net.get(2).rn.leaderLost(1);
  for (let i = 0; i < 4; i++) {
    net.tick(2);
    net.stabilize();
  }
  // 3 still hears 1 and refuses 2's pre-vote: 1 stays leader in its term
  assert.equal(net.get(1).rn.status().role, "leader");
  assert.equal(net.get(1).rn.status().term, term);
  assert.notEqual(net.get(2).rn.status().role, "leader");
});

Deno.test("peerReachable: a leader re-sends at once what a peer missed while it could not be reached", () => {
  const net = net3();
  net.elect(1);
  net.isolate(3);
  net.get(1).rn.reportUnreachable(3); // as the transport reports a connection that failed
  net.get(1).rn.propose("a");
  net.stabilize();
  net.get(1).rn.propose("b");
  net.stabilize();
  assert.deepEqual(net.get(3).applied, []);
  net.heal();
  net.stabilize(); // no tick: nothing is sent to 3 on its own
  assert.deepEqual(net.get(3).applied, []);
  net.get(1).rn.peerReachable(3);
  net.stabilize();
  assert.deepEqual(net.get(3).applied, ["a", "b"]);
  // not the leader: nothing
  net.get(2).rn.peerReachable(3);
});
