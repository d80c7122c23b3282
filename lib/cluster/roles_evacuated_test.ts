import assert from "node:assert/strict";
import { nextRoleChange, type RoleInput } from "./roles.ts";

const L = { maxVoters: 3, maxStandby: 2 };
function m(id: number, role: RoleInput["role"], o: Partial<RoleInput> = {}): RoleInput {
  return { id, role, online: true, caughtUp: true, ...o };
}
function settle(members: RoleInput[], leader: number): string {
  const ms = members.map((x) => ({ ...x }));
  for (let i = 0; i < 20; i++) {
    const c = nextRoleChange(ms, leader, L);
    if (!c) return ms.map((x) => `${x.id}:${x.role}`).join(" ");
    ms.find((x) => x.id === c.id)!.role = c.role;
  }
  throw new Error("roles do not settle");
}

Deno.test("an evacuated voter of three gives up its vote: the two others still make a majority", () => {
  const ms = [m(1, "voter"), m(2, "voter", { evacuated: true }), m(3, "voter")];
  assert.deepEqual(nextRoleChange(ms, 1, L), { id: 2, role: "spare", reason: "member is evacuated" });
  assert.equal(settle(ms, 1), "1:voter 2:spare 3:voter");
});

Deno.test("an evacuated voter's seat goes to a stand-by; the evacuated member is never promoted", () => {
  const ms = [m(1, "voter"), m(2, "voter", { evacuated: true }), m(3, "voter"), m(4, "standby")];
  assert.equal(settle(ms, 1), "1:voter 2:spare 3:voter 4:voter");
  const back = [m(1, "voter"), m(2, "spare", { evacuated: true }), m(3, "voter")];
  assert.equal(nextRoleChange(back, 1, L), null);
});

Deno.test("an evacuated voter keeps its seat while the others alone would not make a majority", () => {
  // m3 is offline: demoting m2 would leave {m1, m3} with one vote up.
  const ms = [m(1, "voter"), m(2, "voter", { evacuated: true }), m(3, "voter", { online: false })];
  assert.equal(nextRoleChange(ms, 1, L), null);
  // with a stand-by the offline voter goes first, then the seat is filled and m2 can leave
  const more = [...ms, m(4, "standby")];
  assert.equal(settle(more, 1), "1:voter 2:spare 3:spare 4:voter");
});

Deno.test("an evacuated stand-by becomes a spare; the leader is never demoted here", () => {
  const ms = [m(1, "voter"), m(2, "voter"), m(3, "voter"), m(4, "standby", { evacuated: true })];
  assert.deepEqual(nextRoleChange(ms, 1, L)?.id, 4);
  const leader = [m(1, "voter", { evacuated: true }), m(2, "voter"), m(3, "voter")];
  assert.equal(nextRoleChange(leader, 1, L), null);
});
