import assert from "node:assert/strict";
import { RAFT_ROLE } from "../db/mod.ts";
import { diagnose, type MemberState, type Probe } from "./doctor.ts";

const NOW = Date.parse("2026-01-01T00:00:00Z");
const FAR = "2036-01-01T00:00:00.000Z";
const ADDR = ["10.0.0.1:8443", "10.0.0.2:8443", "10.0.0.3:8443"];

function state(i: number, o: Partial<MemberState> = {}): MemberState {
  return {
    name: `m${i + 1}`,
    address: ADDR[i]!,
    time: NOW,
    version: "5.0.2",
    schema: 3,
    api: 40,
    blocked: null,
    raft: {
      id: i + 1,
      leader: 1,
      term: 2,
      commit: 10,
      applied: 10,
      conf: { voters: [1, 2, 3], standbys: [], spares: [] },
    },
    raftNodes: ADDR.map((address, j) => ({ id: j + 1, address, role: RAFT_ROLE.voter, name: `m${j + 1}` })),
    nodes: ADDR.map((address, j) => ({
      id: j + 1,
      name: `m${j + 1}`,
      address,
      schema: 3,
      api_extensions: 40,
    })),
    online: Object.fromEntries(ADDR.map((a) => [a, true])),
    clusterCertExpires: FAR,
    serverCertExpires: FAR,
    ...o,
  };
}
const ok = (s: MemberState, rttMs = 2): Probe => ({
  address: s.address,
  ok: true,
  state: s,
  sentAt: NOW - rttMs,
  rttMs,
});
const down = (i: number): Probe => ({ address: ADDR[i]!, ok: false, error: "connection refused" });

Deno.test("a healthy cluster is one line", () => {
  const r = diagnose(state(0), [ok(state(1)), ok(state(2))], NOW);
  assert.equal(r.healthy, true);
  assert.deepEqual(r.problems, []);
  assert.match(r.summary, /^The cluster is healthy: 3 members online, 3 database voters, leader m1/);
});

Deno.test("lost quorum names the survivor and the commands in order", () => {
  const me = state(0, { raft: { ...state(0).raft, leader: 0, applied: 12 } });
  const r = diagnose(me, [down(1), down(2)], NOW);
  const p = r.problems.find((x) => x.kind === "quorum-lost")!;
  assert.match(
    p.summary,
    /1 of 3 database voters answer \(m2 at 10.0.0.2:8443, m3 at 10.0.0.3:8443 do not\)/,
  );
  assert.deepEqual(p.fix, [
    "shoald shutdown   # on m1",
    "shoald cluster list-database   # on m1: check the voters it knows",
    "shoald cluster recover-from-quorum-loss --quiet   # on m1",
    "shoald   # start it again on m1",
    "lxc cluster remove m2 --force --yes",
    "lxc cluster remove m3 --force --yes",
  ]);
  // The voters counted in the quorum are not reported again one by one.
  assert.equal(r.problems.filter((x) => x.kind === "member-unreachable").length, 0);
});

Deno.test("the survivor is the reachable voter with the most applied", () => {
  const conf = { voters: [1, 2, 3, 4, 5], standbys: [], spares: [] };
  const me = state(0, { raft: { ...state(0).raft, conf, applied: 5 } });
  const other = state(1, { raft: { ...state(1).raft, conf, applied: 9 } });
  const r = diagnose(me, [ok(other), down(2)], NOW);
  const p = r.problems.find((x) => x.kind === "quorum-lost")!;
  assert.ok(p.fix.includes("shoald cluster recover-from-quorum-loss --quiet   # on m2"), p.fix.join("\n"));
  assert.ok(p.fix.includes("shoald shutdown   # on m1 (10.0.0.1:8443)"));
});

Deno.test("a Raft member without a row: remove-raft-node with its address", () => {
  const conf = { voters: [1, 2, 3], standbys: [4], spares: [] };
  const raftNodes = [...state(0).raftNodes, {
    id: 4,
    address: "10.0.0.4:8443",
    role: RAFT_ROLE.standby,
    name: "",
  }];
  const r = diagnose(
    state(0, { raft: { ...state(0).raft, conf }, raftNodes }),
    [ok(state(1)), ok(state(2))],
    NOW,
  );
  const p = r.problems.find((x) => x.kind === "leftover-raft-member")!;
  assert.deepEqual(p.fix, ["shoald cluster remove-raft-node 10.0.0.4:8443 --quiet"]);
});

Deno.test("a member whose raft_nodes has an old address is told the YAML line to change", () => {
  const stale = state(2, {
    raftNodes: state(2).raftNodes.map((n) => n.id === 2 ? { ...n, address: "10.9.9.9:8443" } : n),
  });
  const r = diagnose(state(0), [ok(state(1)), ok(stale)], NOW);
  const p = r.problems.find((x) => x.kind === "address-changed")!;
  assert.match(p.summary, /m3 knows m2 at 10.9.9.9:8443 but the cluster has m2 at 10.0.0.2:8443/);
  assert.match(p.fix.join("\n"), /"address: 10.9.9.9:8443" to "address: 10.0.0.2:8443" \(id 2\)/);
});

Deno.test("a blocked upgrade names who still runs the old version", () => {
  const nodes = state(0).nodes.map((n) => n.id === 3 ? n : { ...n, api_extensions: 41 });
  const r = diagnose(state(0, { nodes }), [ok(state(1)), ok(state(2))], NOW);
  const p = r.problems.find((x) => x.kind === "upgrade-blocked")!;
  assert.match(p.summary, /m1, m2 wait \(Blocked\) for m3 \(schema 3, 40 API extensions\)/);
  assert.deepEqual(p.fix, ["upgrade shoal on m3 to the version of m1, then restart shoald there"]);
});

Deno.test("one-way offline, clock skew and expiring certificates", () => {
  const me = state(0, {
    online: { ...state(0).online, [ADDR[1]!]: false },
    clusterCertExpires: new Date(NOW + 10 * 86_400_000).toISOString(),
  });
  const skewed = state(2, { time: NOW + 5_000 });
  const r = diagnose(me, [ok(state(1)), ok(skewed)], NOW);
  const kinds = r.problems.map((p) => p.kind).sort();
  assert.deepEqual(kinds, ["certificate-expiring", "clock-skew", "one-way-offline"]);
  assert.match(r.problems.find((p) => p.kind === "clock-skew")!.summary, /m3's clock is 5.0 s ahead of m1's/);
  assert.match(
    r.problems.find((p) => p.kind === "one-way-offline")!.summary,
    /m2 answers .* misses heartbeats/,
  );
});

Deno.test("an unreachable member that is not a lost voter gets its own problem", () => {
  const conf = { voters: [1, 2], standbys: [3], spares: [] };
  const r = diagnose(state(0, { raft: { ...state(0).raft, conf } }), [ok(state(1)), down(2)], NOW);
  const p = r.problems.find((x) => x.kind === "member-unreachable")!;
  assert.match(p.summary, /Member m3 does not answer at 10.0.0.3:8443: connection refused/);
  assert.match(p.fix.join("\n"), /shoald cluster edit/);
});
