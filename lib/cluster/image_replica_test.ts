import assert from "node:assert/strict";
import { type ReplicaMember, shouldReplicateHere } from "./image_replica.ts";

const members = (self: string, offline: string[] = []): ReplicaMember[] =>
  ["m1", "m2", "m3", "m4"].map((name, i) => ({
    id: i + 1,
    name,
    online: !offline.includes(name),
    self: name === self,
  }));

Deno.test("-1 asks every online member to hold the image", () => {
  for (const m of ["m2", "m3", "m4"]) assert.equal(shouldReplicateHere(["m1"], members(m), -1), true);
  assert.equal(shouldReplicateHere(["m1"], members("m1"), -1), false);
});

Deno.test("N picks the lacking members in id order, no more than the count", () => {
  assert.equal(shouldReplicateHere(["m3"], members("m1"), 2), true);
  assert.equal(shouldReplicateHere(["m3"], members("m2"), 2), false);
  assert.equal(shouldReplicateHere(["m1", "m3"], members("m2"), 2), false);
  assert.equal(shouldReplicateHere(["m1", "m3"], members("m2"), 3), true);
});

Deno.test("1 keeps the image on its importer only", () => {
  assert.equal(shouldReplicateHere(["m1"], members("m2"), 1), false);
});

Deno.test("a holder that went offline is replaced; an offline member is not chosen", () => {
  // m1 and m2 hold it, m2 is gone: with a count of 2 the first online member lacking it fetches
  assert.equal(shouldReplicateHere(["m1", "m2"], members("m3", ["m2"]), 2), true);
  assert.equal(shouldReplicateHere(["m1"], members("m3", ["m2"]), 2), true);
  assert.equal(
    shouldReplicateHere(["m1"], members("m2", ["m2"]).map((m) => ({ ...m, self: false })), 2),
    false,
  );
});

Deno.test("nothing to copy from when every holder is offline", () => {
  assert.equal(shouldReplicateHere(["m2"], members("m3", ["m2"]), -1), false);
});
