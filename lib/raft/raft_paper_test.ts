/**
 * One test per rule of the Raft paper's Figure 2 and per scenario of its §5 (Ongaro &
 * Ousterhout, 2014), each named after the sentence it checks: set up, act, check.
 */
import assert from "node:assert/strict";
import { seededRng, TestNet } from "../../tests/raft/testing.ts";
import { MemoryStorage } from "./storage_memory.ts";
import { RawNode } from "./rawnode.ts";
import type { ConfState, Entry, Message } from "./types.ts";

const V3: ConfState = { voters: [1, 2, 3], standbys: [], spares: [] };
const V5: ConfState = { voters: [1, 2, 3, 4, 5], standbys: [], spares: [] };

function cluster(conf: ConfState = V3, opts = {}): TestNet {
  const net = new TestNet(opts);
  for (const id of [...conf.voters, ...conf.standbys, ...conf.spares]) net.add(id, conf);
  return net;
}

/** Handles one Ready of `id` and takes the messages it sent off the wire. */
function outbox(net: TestNet, id: number): Message[] {
  net.processReady(id);
  const out = net.queue.filter((m) => m.from === id);
  net.queue = net.queue.filter((m) => m.from !== id);
  return out;
}

/** Starts member `id` with a log whose entry i+1 has term terms[i], at `term`. */
function withLog(net: TestNet, id: number, conf: ConfState, terms: number[], term: number) {
  const s = new MemoryStorage(conf);
  s.append(terms.map((t, i): Entry => ({ index: i + 1, term: t, type: "normal", data: `${t}.${i + 1}` })));
  s.setHardState({ term, vote: 0, commit: 0 });
  return net.start(id, s);
}

const logOf = (net: TestNet, id: number) => {
  const s = net.get(id).storage;
  return s.entries(s.firstIndex(), s.lastIndex() + 1).map((e) => e.term);
};

const vote = (from: number, to: number, term: number, index: number, logTerm: number): Message => ({
  type: "vote",
  from,
  to,
  term,
  index,
  logTerm,
  transfer: false,
});

const app = (
  from: number,
  to: number,
  term: number,
  index: number,
  logTerm: number,
  ents: Entry[],
  commit = 0,
) => ({ type: "app", from, to, term, index, logTerm, entries: ents, commit }) as Message;

const ent = (index: number, term: number, data = `${term}.${index}`): Entry => ({
  index,
  term,
  type: "normal",
  data,
});

// ---- Figure 2: persistent state ----

Deno.test("Figure 2 state: a candidate's new term and self-vote are in the Ready that carries its vote requests", () => {
  const net = cluster();
  const rn = net.get(1).rn;
  rn.campaign();
  const rd = rn.ready();
  assert.deepEqual(rd.hardState, { term: 2, vote: 1, commit: 1 });
  assert.deepEqual(rd.messages.map((m) => `${m.type}->${m.to}`), ["vote->2", "vote->3"]);
  rn.advance(rd);
});

Deno.test("Figure 2 state: a granted vote is in the Ready that carries the reply", () => {
  const net = cluster();
  const rn = net.get(2).rn;
  rn.step(vote(1, 2, 2, 1, 1));
  const rd = rn.ready();
  assert.deepEqual(rd.hardState, { term: 2, vote: 1, commit: 1 });
  assert.equal(rd.messages.length, 1);
  assert.deepEqual(rd.messages[0], { type: "vote-resp", from: 2, to: 1, term: 2, reject: false });
});

Deno.test("Figure 2 state: new entries are in the Ready that carries the append acknowledgement", () => {
  const net = cluster();
  const rn = net.get(2).rn;
  rn.step(app(1, 2, 2, 1, 1, [ent(2, 2)]));
  const rd = rn.ready();
  assert.deepEqual(rd.entries, [ent(2, 2)]);
  assert.deepEqual(rd.messages, [{
    type: "app-resp",
    from: 2,
    to: 1,
    term: 2,
    index: 2,
    reject: false,
    hint: 0,
  }]);
});

// ---- Figure 2: RequestVote RPC ----

Deno.test("RequestVote: reply false if term < currentTerm", () => {
  const net = new TestNet();
  withLog(net, 1, V3, [1], 5);
  net.get(1).rn.step(vote(2, 1, 3, 1, 1));
  const out = outbox(net, 1);
  assert.ok(out.every((m) => m.type !== "vote-resp" || m.reject));
  assert.equal(net.get(1).rn.status().term, 5);
  assert.equal(net.get(1).rn.status().vote, 0);
});

Deno.test("RequestVote: grant if votedFor is null and the candidate's log is at least as up-to-date", () => {
  const net = cluster();
  net.get(2).rn.step(vote(3, 2, 2, 1, 1));
  assert.deepEqual(outbox(net, 2), [{ type: "vote-resp", from: 2, to: 3, term: 2, reject: false }]);
  assert.equal(net.get(2).rn.status().vote, 3);
});

Deno.test("RequestVote: a member grants at most one candidate per term (and repeats its answer to that one)", () => {
  const net = cluster();
  const rn = net.get(2).rn;
  rn.step(vote(1, 2, 2, 1, 1));
  rn.step(vote(3, 2, 2, 1, 1));
  rn.step(vote(1, 2, 2, 1, 1));
  const out = outbox(net, 2);
  assert.deepEqual(out.map((m) => [m.to, m.type === "vote-resp" && m.reject]), [[1, false], [3, true], [
    1,
    false,
  ]]);
});

Deno.test("RequestVote: deny a candidate whose last log term is older (§5.4.1)", () => {
  const net = new TestNet();
  withLog(net, 1, V3, [1, 2], 2);
  net.get(1).rn.step(vote(2, 1, 3, 5, 1));
  const out = outbox(net, 1);
  assert.equal(out.length, 1);
  assert.ok(out[0]!.type === "vote-resp" && out[0]!.reject);
});

Deno.test("RequestVote: deny a candidate with the same last term but a shorter log (§5.4.1)", () => {
  const net = new TestNet();
  withLog(net, 1, V3, [1, 2, 2], 2);
  net.get(1).rn.step(vote(2, 1, 3, 2, 2));
  const out = outbox(net, 1);
  assert.ok(out[0]!.type === "vote-resp" && out[0]!.reject);
  net.get(1).rn.step(vote(3, 1, 3, 3, 2));
  const out2 = outbox(net, 1);
  assert.ok(out2[0]!.type === "vote-resp" && !out2[0]!.reject, "an equally long log is up to date");
});

// ---- Figure 2: AppendEntries RPC ----

Deno.test("AppendEntries: reply false if term < currentTerm (the stale leader learns the term)", () => {
  const net = cluster({ ...V3 }, { checkQuorum: true });
  const rn = net.get(2).rn;
  rn.step(app(1, 2, 3, 1, 1, []));
  outbox(net, 2);
  rn.step(app(3, 2, 2, 1, 1, [ent(2, 2)]));
  const out = outbox(net, 2);
  assert.deepEqual(out.map((m) => [m.type, m.to, m.term]), [["app-resp", 3, 3]]);
  assert.deepEqual(logOf(net, 2), [], "the stale entries were not appended");
  assert.equal(rn.status().lead, 1);
});

Deno.test("AppendEntries: follower rejects append when log doesn't contain an entry at prevLogIndex with prevLogTerm", () => {
  const net = new TestNet();
  withLog(net, 2, V3, [1, 1, 2], 2);
  net.get(2).rn.step(app(1, 2, 3, 3, 3, [ent(4, 3)]));
  const out = outbox(net, 2);
  assert.equal(out.length, 1);
  const [r] = out;
  assert.ok(r?.type === "app-resp" && r.reject && r.index === 3);
  assert.deepEqual(logOf(net, 2), [1, 1, 2]);
  net.get(2).rn.step(app(1, 2, 3, 4, 3, [ent(5, 3)]));
  const out2 = outbox(net, 2);
  assert.ok(out2[0]!.type === "app-resp" && out2[0]!.reject, "an index past the end is missing too");
});

Deno.test("AppendEntries: a rejection hints the last index whose term is at most prevLogTerm", () => {
  const net = new TestNet();
  withLog(net, 2, V3, [1, 1, 2, 2, 2], 2);
  net.get(2).rn.step(app(1, 2, 4, 7, 1, []));
  const [r] = outbox(net, 2);
  assert.ok(r?.type === "app-resp" && r.reject);
  assert.equal(r.hint, 2, "skips the whole run of term 2");
});

Deno.test("AppendEntries: follower deletes a conflicting entry and all that follow it", () => {
  const net = new TestNet();
  withLog(net, 2, V3, [1, 1, 2, 2, 2], 2);
  net.get(2).rn.step(app(1, 2, 3, 2, 1, [ent(3, 3)]));
  const out = outbox(net, 2);
  assert.ok(out[0]!.type === "app-resp" && !out[0]!.reject && out[0]!.index === 3);
  assert.deepEqual(logOf(net, 2), [1, 1, 3]);
});

Deno.test("AppendEntries: follower appends new entries not already in the log, and ignores ones it has", () => {
  const net = new TestNet();
  withLog(net, 2, V3, [1, 1], 1);
  const rn = net.get(2).rn;
  rn.step(app(1, 2, 1, 1, 1, [ent(2, 1), ent(3, 1)]));
  const rd1 = rn.ready();
  assert.deepEqual(rd1.entries.map((e) => e.index), [3], "only the new entry is written");
  net.get(2).storage.append(rd1.entries);
  rn.advance(rd1);
  // A duplicate of an older append must not truncate what came after it.
  rn.step(app(1, 2, 1, 1, 1, [ent(2, 1)]));
  const rd = rn.ready();
  assert.deepEqual(rd.entries, []);
  assert.deepEqual(logOf(net, 2), [1, 1, 1]);
});

Deno.test("AppendEntries: follower sets commitIndex to min(leaderCommit, index of last new entry)", () => {
  const net = new TestNet();
  withLog(net, 2, V3, [1], 1);
  const rn = net.get(2).rn;
  rn.step(app(1, 2, 1, 1, 1, [ent(2, 1)], 5));
  assert.equal(rn.status().commit, 2);
  rn.step(app(1, 2, 1, 2, 1, [ent(3, 1), ent(4, 1)], 3));
  assert.equal(rn.status().commit, 3);
});

// ---- Figure 2: rules for all servers ----

Deno.test("All servers: committed entries are applied in log order, and none before it is committed", () => {
  const net = cluster();
  net.elect(1);
  net.isolate(2, 3);
  net.get(1).rn.propose("a");
  net.get(1).rn.propose("b");
  net.stabilize();
  assert.deepEqual(net.get(1).applied, [], "no quorum: nothing applied");
  net.heal();
  net.tickAll(2);
  for (const id of [1, 2, 3]) assert.deepEqual(net.get(id).applied, ["a", "b"]);
});

Deno.test("All servers: a message with a higher term turns the receiver into a follower of that term", () => {
  const net = cluster();
  net.elect(1);
  const rn = net.get(1).rn;
  rn.step({ type: "app-resp", from: 2, to: 1, term: 7, index: 0, reject: false, hint: 0 });
  assert.equal(rn.status().role, "follower");
  assert.equal(rn.status().term, 7);
});

// ---- Figure 2: followers and candidates ----

Deno.test("Followers: a follower that hears from no leader within the election timeout becomes a candidate", () => {
  const net = cluster();
  const rn = net.get(1).rn;
  for (let i = 0; i < 19 && rn.status().role === "follower"; i++) rn.tick();
  assert.equal(rn.status().role, "candidate");
  assert.equal(rn.status().term, 2);
});

Deno.test("Followers: election timeouts are drawn uniformly from [electionTick, 2*electionTick)", () => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= 60; seed++) {
    const rn = new RawNode({
      id: 1,
      storage: new MemoryStorage(V3),
      electionTick: 10,
      heartbeatTick: 1,
      rng: seededRng(seed),
    });
    let ticks = 0;
    while (rn.status().role === "follower") {
      rn.tick();
      ticks++;
    }
    assert.ok(ticks >= 10 && ticks < 20, `timeout ${ticks}`);
    seen.add(ticks);
  }
  assert.ok(seen.size >= 5, `randomized: ${[...seen]}`);
});

Deno.test("Followers: hearing from the leader resets the election timeout", () => {
  const net = cluster();
  net.elect(1);
  for (let i = 0; i < 100; i++) net.tickAll(1);
  assert.equal(net.get(1).rn.status().role, "leader");
  assert.equal(net.get(1).rn.status().term, 2);
});

Deno.test("Candidates: increment the term, vote for self, and ask every other voter (not stand-bys or spares)", () => {
  const net = cluster({ voters: [1, 2, 3], standbys: [4], spares: [5] });
  net.get(1).rn.campaign();
  const out = outbox(net, 1);
  assert.deepEqual(out.map((m) => m.to), [2, 3]);
  assert.ok(out.every((m) => m.type === "vote" && m.term === 2 && m.index === 1 && m.logTerm === 1));
  assert.equal(net.get(1).rn.status().vote, 1);
});

Deno.test("Candidates: votes from a majority make the candidate leader, and it appends an empty entry", () => {
  const net = cluster(V5);
  const rn = net.get(1).rn;
  rn.campaign();
  outbox(net, 1);
  rn.step({ type: "vote-resp", from: 2, to: 1, term: 2, reject: false });
  assert.equal(rn.status().role, "candidate", "two of five is not a majority");
  rn.step({ type: "vote-resp", from: 3, to: 1, term: 2, reject: false });
  assert.equal(rn.status().role, "leader");
  const rd = rn.ready();
  assert.deepEqual(rd.entries, [{ index: 2, term: 2, type: "normal", data: "" }]);
});

Deno.test("Candidates: an append from a leader of the same term makes the candidate a follower", () => {
  const net = cluster();
  const rn = net.get(1).rn;
  rn.campaign();
  outbox(net, 1);
  rn.step(app(2, 1, 2, 1, 1, []));
  assert.equal(rn.status().role, "follower");
  assert.equal(rn.status().lead, 2);
});

Deno.test("Candidates: a split vote times out and a new election starts in a higher term", () => {
  const net = cluster();
  const rn = net.get(1).rn;
  rn.campaign();
  outbox(net, 1);
  rn.step({ type: "vote-resp", from: 2, to: 1, term: 2, reject: true });
  for (let i = 0; i < 20 && rn.status().term === 2; i++) rn.tick();
  assert.equal(rn.status().role, "candidate");
  assert.equal(rn.status().term, 3);
});

Deno.test("Candidates: rejections from a majority end the candidacy", () => {
  const net = cluster();
  const rn = net.get(1).rn;
  rn.campaign();
  outbox(net, 1);
  rn.step({ type: "vote-resp", from: 2, to: 1, term: 2, reject: true });
  rn.step({ type: "vote-resp", from: 3, to: 1, term: 2, reject: true });
  assert.equal(rn.status().role, "follower");
});

// ---- Figure 2: leaders ----

Deno.test("Leaders: an idle leader sends heartbeats every heartbeatTick", () => {
  const net = cluster({ ...V3 }, { heartbeatTick: 3 });
  net.elect(1);
  net.delivered = [];
  net.tickAll(9);
  const hb = net.delivered.filter((m) => m.type === "heartbeat");
  assert.equal(hb.length, 6, "3 rounds to 2 followers");
});

Deno.test("Leaders: a proposal is appended to the leader's log and replicated to followers", () => {
  const net = cluster();
  net.elect(1);
  const r = net.get(1).rn.propose("cmd");
  assert.deepEqual(r, { ok: true, index: 3, term: 2 });
  const out = outbox(net, 1);
  assert.deepEqual(out.map((m) => m.type === "app" && m.entries.map((e) => e.data)), [["cmd"], ["cmd"]]);
  net.queue.push(...out);
  net.stabilize();
  for (const id of [2, 3]) assert.deepEqual(logOf(net, id), [2, 2]);
});

Deno.test("Leaders: after a rejection the leader backs up nextIndex and retries until the logs match", () => {
  const net = new TestNet();
  withLog(net, 1, V3, [1, 1, 3, 3], 3);
  withLog(net, 2, V3, [1, 1, 2, 2, 2, 2, 2], 2);
  withLog(net, 3, V3, [1, 1, 3, 3], 3);
  net.elect(1);
  net.stabilize();
  assert.deepEqual(logOf(net, 2), [1, 1, 3, 3, 4]);
  const rejects = net.delivered.filter((m) => m.type === "app-resp" && m.from === 2 && m.reject);
  assert.ok(rejects.length <= 2, `fast backtracking: ${rejects.length} rejections`);
});

Deno.test("Leaders: an entry of the current term commits once a majority has it", () => {
  const net = cluster(V5);
  net.elect(1);
  net.isolate(4, 5);
  net.get(1).rn.propose("a");
  net.stabilize();
  assert.equal(net.get(1).rn.status().commit, 3, "1, 2, 3 are a majority of five");
  net.heal();
  net.isolate(3, 4, 5);
  net.get(1).rn.propose("b");
  net.stabilize();
  assert.equal(net.get(1).rn.status().commit, 3, "1, 2 are not");
});

// ---- §5.4.2 / Figure 8 ----

const isVote = (m: Message) => m.type === "vote" || m.type === "vote-resp";

/** Campaigns `id` (again) until it leads, delivering only election messages. */
function electOnlyVotes(net: TestNet, id: number): void {
  for (let i = 0; i < 5 && net.get(id).rn.status().role !== "leader"; i++) {
    net.get(id).rn.campaign();
    for (let r = 0; r < 4; r++) {
      for (const m of net.members.keys()) net.processReady(m);
      net.deliver(isVote);
    }
  }
  assert.equal(net.get(id).rn.status().role, "leader");
}

/** The paper's Figure 8, (a) to (d), with S1..S5; one entry per append message. */
function figure8(bug: boolean) {
  const net = cluster(V5, { maxSizePerMsg: 0, bugs: { figure8: bug } });
  // (a) S1 leads term 2 and replicates x at index 3 to S2 only.
  net.elect(1);
  net.isolate(1, 2);
  net.get(1).rn.propose("x");
  net.stabilize();
  // (b) S1 crashes; S5 wins term 3 with S3 and S4, and appends y at index 4 only locally.
  net.heal();
  net.restart(1);
  net.isolate(1);
  electOnlyVotes(net, 5);
  net.isolate(5);
  net.get(5).rn.propose("y");
  net.stabilize();
  // (c) S5 crashes, S1 restarts and wins term 4 with S2 and S3, and replicates x to S3...
  net.heal();
  net.restart(5);
  net.isolate(4);
  net.isolate(5);
  electOnlyVotes(net, 1);
  for (let r = 0; r < 10; r++) {
    net.processReady(1);
    net.deliver((m) =>
      (m.to === 3 && m.type === "app" &&
        (m.index >= 3 ? net.get(3).storage.lastIndex() < 3 : m.entries.every((e) => e.index <= 3))) ||
      m.to === 2 || (m.to === 1 && (m.from === 2 || m.from === 3))
    );
    net.processReady(2);
    net.processReady(3);
  }
  net.processReady(1);
  const s1 = { commit: net.get(1).rn.status().commit, applied: [...net.get(1).applied] };
  // ...but crashes before its term-4 entry reaches S3. (d) S5 restarts and wins term 5.
  net.heal();
  net.restart(1);
  net.isolate(1);
  electOnlyVotes(net, 5);
  // Bounded: with the bug, logs differ inside the committed prefix and may never settle.
  for (let r = 0; r < 50; r++) {
    for (const id of net.members.keys()) net.processReady(id);
    net.deliver();
  }
  return { s1, s4: net.get(4).applied, s5: net.get(5).applied };
}

Deno.test("Leaders: leader only commits entries of its current term by counting replicas (Figure 8)", () => {
  const r = figure8(false);
  assert.equal(r.s1.commit, 2, "x at index 3 is on a majority but of an older term: not committed");
  assert.deepEqual(r.s1.applied, []);
  assert.deepEqual(r.s4, ["y"]);
  assert.deepEqual(r.s5, ["y"]);
});

Deno.test("Leaders: with the figure8 bug the Figure 8 scenario applies an entry that is then overwritten", () => {
  const r = figure8(true);
  assert.equal(r.s1.commit, 3);
  assert.deepEqual(r.s1.applied, ["x"]);
  assert.deepEqual(r.s4, ["y"], "index 3 holds a different entry on S4: state machine safety is broken");
});

// ---- §5 scenarios ----

Deno.test("§5.2 election safety: of simultaneous candidates in one term at most one wins", () => {
  for (let seed = 1; seed <= 30; seed++) {
    const net = new TestNet({}, seed);
    for (const id of V5.voters) net.add(id, V5);
    for (const id of V5.voters) net.get(id).rn.campaign();
    net.stabilize();
    const leaders = [...net.members.values()].filter((m) => m.rn.status().role === "leader");
    const terms = leaders.map((m) => m.rn.status().term);
    assert.equal(new Set(terms).size, terms.length, `seed ${seed}: two leaders in one term`);
  }
});

Deno.test("§5.3 log matching: a new leader makes divergent follower logs identical to its own (Figure 7)", () => {
  const conf: ConfState = { voters: [1, 2, 3, 4, 5, 6, 7], standbys: [], spares: [] };
  const net = new TestNet();
  withLog(net, 1, conf, [1, 1, 1, 4, 4, 5, 5, 6, 6, 6], 7); // the leader for term 8
  withLog(net, 2, conf, [1, 1, 1, 4, 4, 5, 5, 6, 6], 7); // (a)
  withLog(net, 3, conf, [1, 1, 1, 4], 7); // (b)
  withLog(net, 4, conf, [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], 7); // (c)
  withLog(net, 5, conf, [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], 7); // (d)
  withLog(net, 6, conf, [1, 1, 1, 4, 4, 4, 4], 7); // (e)
  withLog(net, 7, conf, [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], 7); // (f)
  net.elect(1);
  assert.equal(net.get(1).rn.status().term, 8);
  net.stabilize();
  const want = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 8];
  for (const id of conf.voters) assert.deepEqual(logOf(net, id), want, `member ${id}`);
});

Deno.test("§5.4.1 election restriction: a member that lacks a committed entry cannot become leader", () => {
  const net = cluster();
  net.elect(1);
  net.isolate(3);
  net.get(1).rn.propose("a");
  net.stabilize();
  net.heal();
  net.isolate(1);
  for (let i = 0; i < 3; i++) {
    net.get(3).rn.campaign();
    net.stabilize();
    assert.notEqual(net.get(3).rn.status().role, "leader");
  }
  net.elect(2);
  assert.equal(net.get(2).rn.status().role, "leader");
});

Deno.test("§5.4.3 leader completeness: every later leader holds the committed entries", () => {
  const net = cluster(V5);
  net.elect(1);
  net.get(1).rn.propose("a");
  net.stabilize();
  for (const next of [2, 3, 4, 5]) {
    net.isolate(next - 1);
    net.elect(next);
    assert.equal(net.get(next).rn.status().role, "leader");
    assert.ok(logOf(net, next).length >= 2 && net.get(next).storage.entries(3, 4)[0]!.data === "a");
    net.heal();
  }
});

Deno.test("§5.5 follower crashes: the leader retries until the follower has the entries", () => {
  const net = cluster();
  net.elect(1);
  net.isolate(3);
  net.get(1).rn.propose("a");
  net.stabilize();
  net.restart(3);
  net.heal();
  net.tickAll(3);
  assert.deepEqual(net.get(3).applied, ["a"]);
});

Deno.test("§5.5 a member that restarts remembers its vote and does not vote twice in a term", () => {
  const net = cluster();
  net.get(2).rn.step(vote(1, 2, 2, 1, 1));
  outbox(net, 2);
  net.restart(2);
  net.get(2).rn.step(vote(3, 2, 2, 1, 1));
  const out = outbox(net, 2);
  assert.ok(out[0]!.type === "vote-resp" && out[0]!.reject);
});

Deno.test("§5.6 timing: with prompt messages a single leader is elected and stays", () => {
  const net = cluster(V5, { preVote: true, checkQuorum: true });
  let firstLeaderAt = -1;
  for (let t = 0; t < 200; t++) {
    net.tickAll(1);
    if (firstLeaderAt < 0 && net.leader()) firstLeaderAt = t;
  }
  assert.ok(firstLeaderAt >= 0 && firstLeaderAt < 20, `elected at tick ${firstLeaderAt}`);
  const leaders = [...net.members.values()].filter((m) => m.rn.status().role === "leader");
  assert.equal(leaders.length, 1);
  assert.equal(leaders[0]!.rn.status().term, 2, "no further elections");
});

Deno.test("§7 installing a snapshot replaces the follower's log and configuration", () => {
  const net = new TestNet();
  withLog(net, 2, V3, [1, 1, 2, 2], 2);
  const conf: ConfState = { voters: [1, 2, 3], standbys: [4], spares: [] };
  net.get(2).rn.step({
    type: "snap",
    from: 1,
    to: 2,
    term: 3,
    snapshot: { meta: { index: 10, term: 3, conf }, data: new TextEncoder().encode('["s"]') },
  });
  net.processReady(2);
  const out = net.queue;
  assert.deepEqual(out, [{ type: "snap-status", from: 2, to: 1, term: 3, index: 10, reject: false }]);
  assert.equal(net.get(2).storage.firstIndex(), 11);
  assert.equal(net.get(2).storage.lastIndex(), 10);
  assert.deepEqual(net.get(2).rn.confState(), conf);
  assert.deepEqual(net.get(2).applied, ["s"]);
  assert.equal(net.get(2).rn.status().applied, 10);
});
