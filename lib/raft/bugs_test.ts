/** Each planted bug (config.bugs) does what its name says, and nothing when off. */
import assert from "node:assert/strict";
import { TestNet } from "../../tests/raft/testing.ts";
import { MemoryStorage } from "./storage_memory.ts";
import type { Bugs, ConfState, Entry, Message } from "./types.ts";

const V3: ConfState = { voters: [1, 2, 3], standbys: [], spares: [] };

function member(bugs: Bugs, terms: number[], term: number) {
  const net = new TestNet({ bugs });
  const s = new MemoryStorage(V3);
  s.append(terms.map((t, i): Entry => ({ index: i + 1, term: t, type: "normal", data: "" })));
  s.setHardState({ term, vote: 0, commit: 0 });
  return { net, m: net.start(1, s) };
}

const voteReq = (from: number, term: number, index: number, logTerm: number): Message => ({
  type: "vote",
  from,
  to: 1,
  term,
  index,
  logTerm,
  transfer: false,
});

for (const on of [false, true]) {
  Deno.test(`vote-without-log-check ${on ? "on: grants" : "off: refuses"} a candidate with an older log`, () => {
    const { m } = member({ voteWithoutLogCheck: on }, [1, 2, 2], 2);
    m.rn.step(voteReq(2, 3, 1, 1));
    const rd = m.rn.ready();
    const [r] = rd.messages;
    assert.ok(r?.type === "vote-resp");
    assert.equal(r.reject, !on);
  });

  Deno.test(`vote-not-persisted ${on ? "on" : "off"}: the vote ${on ? "is missing from" : "is in"} the Ready's hardState`, () => {
    const { net, m } = member({ voteNotPersisted: on }, [1], 1);
    m.rn.step(voteReq(2, 2, 1, 1));
    net.processReady(1);
    assert.equal(m.storage.initialState().hardState.vote, on ? 0 : 2);
    // After a crash, a second candidate of the same term gets a vote too when the bug is on.
    const again = net.restart(1);
    again.rn.step(voteReq(3, 2, 1, 1));
    const [r] = again.rn.ready().messages;
    assert.ok(r?.type === "vote-resp");
    assert.equal(r.reject, !on);
  });

  Deno.test(`apply-before-commit ${on ? "on: hands out" : "off: holds back"} entries the leader has not committed`, () => {
    const { m } = member({ applyBeforeCommit: on }, [1], 1);
    m.rn.step({
      type: "app",
      from: 2,
      to: 1,
      term: 1,
      index: 1,
      logTerm: 1,
      commit: 1,
      entries: [{ index: 2, term: 1, type: "normal", data: "x" }],
    });
    const rd = m.rn.ready();
    assert.deepEqual(rd.committedEntries.map((e) => e.index), on ? [1, 2] : [1]);
  });

  Deno.test(`stale-read ${on ? "on: answers" : "off: does not answer"} a read on a leader cut off from the quorum`, () => {
    const net = new TestNet({ bugs: { staleRead: on } });
    for (const id of [1, 2, 3]) net.add(id, V3);
    net.elect(1);
    net.isolate(1);
    net.get(1).rn.readIndex("r");
    net.stabilize();
    assert.equal(net.get(1).readStates.length, on ? 1 : 0);
  });
}
