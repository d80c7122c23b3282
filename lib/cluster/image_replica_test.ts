import assert from "node:assert/strict";
import { type ReplicaMember, replicaMembers, shouldReplicateHere } from "./image_replica.ts";
import type { DbRole } from "./roles.ts";

const members = (self: string, offline: string[] = [], roles: DbRole[] = []): ReplicaMember[] =>
  ["m1", "m2", "m3", "m4"].map((name, i) => ({
    id: i + 1,
    name,
    online: !offline.includes(name),
    self: name === self,
    role: roles[i] ?? "voter",
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

Deno.test("the voters first, then the stand-bys, then the spares, each in id order", () => {
  // m1 a spare, m2 a stand-by, m3 and m4 voters; m2 imported it.
  const roles: DbRole[] = ["spare", "standby", "voter", "voter"];
  const who = (held: string[], count: number) =>
    ["m1", "m2", "m3", "m4"].filter((m) => shouldReplicateHere(held, members(m, [], roles), count));
  assert.deepEqual(who(["m2"], 2), ["m3"]);
  assert.deepEqual(who(["m2"], 3), ["m3", "m4"]);
  assert.deepEqual(who(["m2", "m3", "m4"], 4), ["m1"]);
  // A voter already holding it leaves the next voter, then the stand-by, before the spare.
  assert.deepEqual(who(["m4"], 2), ["m3"]);
  assert.deepEqual(who(["m3", "m4"], 3), ["m2"]);
  // An offline voter is passed over for the stand-by.
  const m2 = (held: string[]) => shouldReplicateHere(held, members("m2", ["m3"], roles), 2);
  assert.equal(m2(["m4"]), true);
});

Deno.test("roles come from the Raft configuration; a member it does not name ranks as a spare", () => {
  const targets = [1, 2, 3, 4].map((id) => ({
    id,
    name: `m${id}`,
    address: `127.0.0.${id}:8443`,
    online: true,
    evacuated: false,
    self: id === 1,
  }));
  const got = replicaMembers(targets, { voters: [2], standbys: [3], spares: [1] });
  assert.deepEqual(got.map((m) => [m.name, m.role]), [["m1", "spare"], ["m2", "voter"], ["m3", "standby"], [
    "m4",
    "spare",
  ]]);
});
