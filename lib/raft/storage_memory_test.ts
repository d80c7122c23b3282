import assert from "node:assert/strict";
import { MemoryStorage } from "./storage_memory.ts";
import type { Entry } from "./types.ts";

const e = (index: number, term: number, data = ""): Entry => ({ index, term, type: "normal", data });

Deno.test("memory storage: append replaces a conflicting suffix", () => {
  const s = new MemoryStorage();
  s.append([e(1, 1), e(2, 1), e(3, 1)]);
  s.append([e(2, 2)]);
  assert.equal(s.lastIndex(), 2);
  assert.equal(s.term(2), 2);
  assert.throws(() => s.append([e(5, 2)]), /missing log entry/);
});

Deno.test("memory storage: entries honour maxBytes but return at least one", () => {
  const s = new MemoryStorage();
  s.append([e(1, 1, "aaaa"), e(2, 1, "bbbb"), e(3, 1, "cc")]);
  assert.equal(s.entries(1, 4, 1).length, 1);
  assert.equal(s.entries(1, 4, 8).length, 2);
  assert.equal(s.entries(1, 4).length, 3);
  assert.throws(() => s.entries(1, 5), { name: "UnavailableError" });
});

Deno.test("memory storage: compaction needs a snapshot covering the index", () => {
  const s = new MemoryStorage({ voters: [1], standbys: [], spares: [] });
  s.append([e(1, 1), e(2, 1), e(3, 2)]);
  assert.throws(() => s.compact(2), /create a snapshot first/);
  s.createSnapshot(3, { voters: [1], standbys: [], spares: [] }, new Uint8Array([1]));
  s.compact(2);
  assert.equal(s.firstIndex(), 3);
  assert.equal(s.term(2), 1);
  assert.throws(() => s.entries(2, 3), { name: "CompactedError" });
  assert.throws(() => s.compact(2), { name: "CompactedError" });
});

Deno.test("memory storage: applying a snapshot replaces the log and the configuration", () => {
  const s = new MemoryStorage();
  s.append([e(1, 1), e(2, 1)]);
  const conf = { voters: [1, 2], standbys: [3], spares: [] };
  s.applySnapshot({ meta: { index: 5, term: 3, conf }, data: new Uint8Array() });
  assert.equal(s.firstIndex(), 6);
  assert.equal(s.lastIndex(), 5);
  assert.equal(s.term(5), 3);
  assert.deepEqual(s.initialState().confState, conf);
  assert.throws(
    () => s.applySnapshot({ meta: { index: 4, term: 3, conf }, data: new Uint8Array() }),
    /out of date/,
  );
});
