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
