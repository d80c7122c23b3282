import assert from "node:assert/strict";
import { RaftLog } from "./log.ts";
import { MemoryStorage } from "./storage_memory.ts";
import type { Entry } from "./types.ts";

const e = (index: number, term: number): Entry => ({ index, term, type: "normal", data: `${term}.${index}` });

function logWith(terms: number[]): RaftLog {
  const s = new MemoryStorage();
  s.append(terms.map((t, i) => e(i + 1, t)));
  return new RaftLog(s);
}

Deno.test("log: unstable entries override storage and are found by term()", () => {
  const log = logWith([1, 1, 2]);
  log.append([e(3, 3), e(4, 3)]);
  assert.equal(log.lastIndex(), 4);
  assert.equal(log.term(3), 3);
  assert.equal(log.term(2), 1);
  assert.deepEqual(log.entries(2).map((x) => x.term), [1, 3, 3]);
});

Deno.test("log: term() of a compacted or missing index throws by name", () => {
  const s = new MemoryStorage();
  s.append([e(1, 1), e(2, 1), e(3, 2)]);
  s.createSnapshot(2, { voters: [1], standbys: [], spares: [] }, new Uint8Array());
  s.compact(2);
  const log = new RaftLog(s);
  assert.equal(log.term(2), 1, "the snapshot's own index answers");
  assert.throws(() => log.term(1), { name: "CompactedError" });
  assert.throws(() => log.term(9), { name: "UnavailableError" });
  assert.equal(log.matchTerm(1, 1), false);
});

Deno.test("log: maybeAppend refuses to overwrite committed entries", () => {
  const log = logWith([1, 1, 1]);
  log.commitTo(3);
  assert.equal(log.maybeAppend(1, 1, 3, [e(2, 2)]), undefined);
  assert.equal(log.term(2), 1);
});

Deno.test("log: commitTo never moves back nor past the last index", () => {
  const log = logWith([1, 1]);
  log.commitTo(2);
  log.commitTo(1);
  assert.equal(log.committed, 2);
  log.commitTo(5);
  assert.equal(log.committed, 2);
});

Deno.test("log: committed entries are handed out once, in order, and not past committed", () => {
  const log = logWith([1, 1, 1, 1]);
  log.commitTo(2);
  assert.deepEqual(log.nextCommittedEntries().map((x) => x.index), [1, 2]);
  log.applying = 2;
  assert.equal(log.hasNextCommittedEntries(), false);
  log.commitTo(4);
  assert.deepEqual(log.nextCommittedEntries().map((x) => x.index), [3, 4]);
});

Deno.test("log: findConflictByTerm skips back over entries of later terms", () => {
  const log = logWith([1, 1, 2, 2, 3, 3]);
  assert.equal(log.findConflictByTerm(6, 2), 4);
  assert.equal(log.findConflictByTerm(6, 1), 2);
  assert.equal(log.findConflictByTerm(6, 0), 0);
});

Deno.test("log: the up-to-date check compares last term, then length (§5.4.1)", () => {
  const log = logWith([1, 2, 2]);
  assert.equal(log.isUpToDate(1, 3), true);
  assert.equal(log.isUpToDate(3, 2), true);
  assert.equal(log.isUpToDate(2, 2), false);
  assert.equal(log.isUpToDate(9, 1), false);
});

Deno.test("log: restore from a snapshot resets the log to it", () => {
  const log = logWith([1, 1, 1]);
  log.restore({
    meta: { index: 10, term: 4, conf: { voters: [1], standbys: [], spares: [] } },
    data: new Uint8Array(),
  });
  assert.equal(log.firstIndex(), 11);
  assert.equal(log.lastIndex(), 10);
  assert.equal(log.term(10), 4);
  assert.equal(log.committed, 10);
  assert.deepEqual(log.nextCommittedEntries(), [], "the snapshot, not entries, is applied first");
});
