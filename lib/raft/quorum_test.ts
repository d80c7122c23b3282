import assert from "node:assert/strict";
import { committedIndex, quorumSize, voteResult } from "./quorum.ts";

Deno.test("quorum size is a strict majority", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(quorumSize), [1, 2, 2, 3, 3, 4, 4]);
});

Deno.test("committed index is the highest index a majority of voters has", () => {
  const m = new Map([[1, 5], [2, 3], [3, 9], [4, 1], [5, 3]]);
  assert.equal(committedIndex([1, 2, 3, 4, 5], (id) => m.get(id)!), 3);
  assert.equal(committedIndex([1, 3], (id) => m.get(id)!), 5);
  assert.equal(committedIndex([1], (id) => m.get(id)!), 5);
  assert.equal(committedIndex([], () => 7), 0);
});

Deno.test("vote result: won with a majority, lost once a majority is out of reach, else pending", () => {
  const v = (e: [number, boolean][]) => new Map(e);
  assert.equal(voteResult([1, 2, 3], v([[1, true]])), "pending");
  assert.equal(voteResult([1, 2, 3], v([[1, true], [2, true]])), "won");
  assert.equal(voteResult([1, 2, 3], v([[1, true], [2, false]])), "pending");
  assert.equal(voteResult([1, 2, 3], v([[1, true], [2, false], [3, false]])), "lost");
  assert.equal(voteResult([1, 2, 3, 4], v([[1, true], [2, true]])), "pending");
  assert.equal(voteResult([1, 2], v([[1, true], [9, true]])), "pending", "non-voters do not count");
  assert.equal(voteResult([], v([[1, true]])), "lost");
});
