/**
 * The one conformance suite of the driver's LogStorage (lib/driver/log_storage.ts), run against
 * every implementation: lib/raft_store's SQLite store and the simulator's memory store. Each
 * case starts from a store that received a snapshot at index 1, term 1, so that the stores'
 * different ways to begin (bootstrap, a simulated disk made with its configuration) meet.
 * @module
 */
import assert from "node:assert/strict";
import type { LogStorage } from "../../lib/driver/log_storage.ts";
import type { ConfState, Entry } from "../../lib/raft/types.ts";

/** A store under test; `reopen` gives the same disk as a restarted member sees it. */
export interface Subject {
  storage: LogStorage;
  reopen(): LogStorage;
  close(): void;
}

const conf: ConfState = { voters: [1, 2], standbys: [3], spares: [] };
const e = (index: number, term: number, data = `d${index}`): Entry => ({ index, term, type: "normal", data });
const errorName = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    return (err as Error).name;
  }
  return "no error";
};

export function logStorageSuite(name: string, make: () => Promise<Subject> | Subject): void {
  const test = (what: string, f: (s: LogStorage, subject: Subject) => void) =>
    Deno.test(`LogStorage (${name}): ${what}`, async () => {
      const subject = await make();
      try {
        subject.storage.persist({
          snapshot: { meta: { index: 1, term: 1, conf }, data: new TextEncoder().encode("state") },
          entries: [],
          hardState: { term: 1, vote: 0, commit: 1 },
        });
        f(subject.storage, subject);
      } finally {
        subject.close();
      }
    });

  test("a received snapshot starts the log after it", (s) => {
    assert.equal(s.firstIndex(), 2);
    assert.equal(s.lastIndex(), 1);
    assert.equal(s.term(1), 1);
    assert.equal(s.snapshotIndex, 1);
    assert.deepEqual(s.snapshotMeta, { index: 1, term: 1, conf });
    assert.deepEqual(s.initialState(), { hardState: { term: 1, vote: 0, commit: 1 }, confState: conf });
    assert.equal(new TextDecoder().decode(s.snapshot().data), "state");
  });

  test("entries and hard state persist and survive a restart", (s, subject) => {
    s.persist({ entries: [e(2, 1), e(3, 2)], hardState: { term: 2, vote: 1, commit: 3 } });
    for (const t of [s, subject.reopen()]) {
      assert.equal(t.lastIndex(), 3);
      assert.deepEqual(t.entries(2, 4), [e(2, 1), e(3, 2)]);
      assert.equal(t.term(3), 2);
      assert.deepEqual(t.hardState, { term: 2, vote: 1, commit: 3 });
      assert.deepEqual(t.initialState().hardState, { term: 2, vote: 1, commit: 3 });
    }
  });

  test("reads outside the log fail by name, and a byte budget still returns one entry", (s) => {
    s.persist({ entries: [e(2, 1, "x".repeat(100)), e(3, 1, "y".repeat(100))] });
    assert.equal(errorName(() => s.entries(1, 3)), "CompactedError");
    assert.equal(errorName(() => s.term(0)), "CompactedError");
    assert.equal(errorName(() => s.entries(2, 5)), "UnavailableError");
    assert.equal(errorName(() => s.term(4)), "UnavailableError");
    assert.deepEqual(s.entries(2, 4, 1).map((x) => x.index), [2]);
    assert.deepEqual(s.entries(2, 4).map((x) => x.index), [2, 3]);
  });

  test("entries replace the suffix they conflict with", (s) => {
    s.persist({ entries: [e(2, 1), e(3, 1), e(4, 1)] });
    s.persist({ entries: [e(3, 2, "new")] });
    assert.equal(s.lastIndex(), 3);
    assert.deepEqual(s.entries(2, 4), [e(2, 1), e(3, 2, "new")]);
    assert.equal(errorName(() => s.term(4)), "UnavailableError");
  });

  test("a snapshot taken here compacts up to the given index and keeps the rest", (s, subject) => {
    s.persist({ entries: [e(2, 1), e(3, 1), e(4, 2), e(5, 2)], hardState: { term: 2, vote: 1, commit: 5 } });
    s.saveSnapshot({ meta: { index: 4, term: 2, conf }, data: new TextEncoder().encode("at4") }, 3);
    for (const t of [s, subject.reopen()]) {
      assert.equal(t.snapshotIndex, 4);
      assert.equal(t.firstIndex(), 4);
      assert.equal(t.term(3), 1);
      assert.deepEqual(t.entries(4, 6).map((x) => x.index), [4, 5]);
      assert.equal(errorName(() => t.entries(3, 5)), "CompactedError");
      assert.equal(new TextDecoder().decode(t.snapshot().data), "at4");
    }
    // An older snapshot changes nothing.
    s.saveSnapshot({ meta: { index: 2, term: 1, conf }, data: new Uint8Array([1]) }, 2);
    assert.equal(s.snapshotIndex, 4);
    assert.equal(s.firstIndex(), 4);
  });

  test("a received snapshot replaces the whole log and raises the commit index", (s, subject) => {
    s.persist({ entries: [e(2, 1), e(3, 1)], hardState: { term: 1, vote: 1, commit: 2 } });
    const next: ConfState = { voters: [1, 2, 3], standbys: [], spares: [] };
    s.persist({
      snapshot: { meta: { index: 10, term: 3, conf: next }, data: new Uint8Array([7]) },
      entries: [],
    });
    for (const t of [s, subject.reopen()]) {
      assert.equal(t.firstIndex(), 11);
      assert.equal(t.lastIndex(), 10);
      assert.equal(t.term(10), 3);
      assert.deepEqual(t.snapshotMeta, { index: 10, term: 3, conf: next });
      assert.deepEqual(t.initialState().confState, next);
      assert.ok(t.hardState.commit >= 10);
      assert.deepEqual([...t.snapshot().data], [7]);
    }
    s.persist({ entries: [e(11, 3)] });
    assert.equal(s.lastIndex(), 11);
  });
}
