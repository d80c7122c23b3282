import assert from "node:assert/strict";
import { joinerRole, nextRoleChange, type RoleInput, targetVoters } from "./roles.ts";

const L = { maxVoters: 3, maxStandby: 2 };
function m(id: number, role: RoleInput["role"], online = true, caughtUp = true): RoleInput {
  return { id, role, online, caughtUp };
}

/** Applies changes until none is left (what the leader's loop does). */
function settle(members: RoleInput[], leader: number, limits = L): RoleInput[] {
  const ms = members.map((x) => ({ ...x }));
  for (let i = 0; i < 20; i++) {
    const c = nextRoleChange(ms, leader, limits);
    if (!c) return ms;
    ms.find((x) => x.id === c.id)!.role = c.role;
  }
  throw new Error("roles do not settle");
}

function roles(ms: RoleInput[]): string {
  return ms.map((x) => `${x.id}:${x.role}`).join(" ");
}

Deno.test("targetVoters() is odd, capped by max_voters, and 1 for two members", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 9].map((n) => targetVoters(n, 3)), [1, 1, 3, 3, 3, 3, 3]);
  assert.deepEqual([4, 5, 6, 7].map((n) => targetVoters(n, 5)), [3, 5, 5, 5]);
});

Deno.test("roles as LXD assigns them while members join one by one", () => {
  assert.equal(roles(settle([m(1, "voter")], 1)), "1:voter");
  assert.equal(roles(settle([m(1, "voter"), m(2, "standby")], 1)), "1:voter 2:standby");
  assert.equal(
    roles(settle([m(1, "voter"), m(2, "standby"), m(3, "standby")], 1)),
    "1:voter 2:voter 3:voter",
  );
  assert.equal(
    roles(settle([m(1, "voter"), m(2, "voter"), m(3, "voter"), m(4, "standby")], 1)),
    "1:voter 2:voter 3:voter 4:standby",
  );
  assert.equal(
    roles(
      settle(
        [m(1, "voter"), m(2, "voter"), m(3, "voter"), m(4, "standby"), m(5, "standby"), m(6, "standby")],
        1,
      ),
    ),
    "1:voter 2:voter 3:voter 4:standby 5:standby 6:spare",
  );
});

Deno.test("an offline voter is replaced by a caught-up stand-by, and never the other way", () => {
  const after = settle([m(1, "voter"), m(2, "voter", false), m(3, "voter"), m(4, "standby")], 1);
  assert.equal(roles(after), "1:voter 2:spare 3:voter 4:voter");
  // A stand-by that has not caught up is not promoted: the offline voter keeps its seat.
  assert.equal(
    nextRoleChange([m(1, "voter"), m(2, "voter", false), m(3, "voter"), m(4, "standby", true, false)], 1, L),
    null,
  );
});

Deno.test("lowering max_voters and max_standby shrinks the roles; the leader keeps its seat", () => {
  const five = [m(1, "voter"), m(2, "voter"), m(3, "voter"), m(4, "voter"), m(5, "voter"), m(6, "standby")];
  assert.equal(
    roles(settle(five, 5, { maxVoters: 3, maxStandby: 1 })),
    "1:voter 2:voter 3:standby 4:spare 5:voter 6:spare",
  );
  assert.equal(
    roles(settle([m(1, "voter"), m(2, "standby"), m(3, "standby")], 1, { maxVoters: 3, maxStandby: 0 })),
    "1:voter 2:voter 3:voter",
  );
});

Deno.test("an offline stand-by makes way for an online spare", () => {
  const ms = [
    m(1, "voter"),
    m(2, "voter"),
    m(3, "voter"),
    m(4, "standby", false),
    m(5, "standby"),
    m(6, "spare"),
  ];
  assert.equal(roles(settle(ms, 1)), "1:voter 2:voter 3:voter 4:spare 5:standby 6:standby");
});

Deno.test("an offline voter with no stand-by to replace it keeps its seat: online voters are never shed", () => {
  assert.equal(nextRoleChange([m(1, "voter"), m(2, "voter"), m(3, "voter", false)], 1, L), null);
  assert.equal(
    roles(settle([m(1, "voter"), m(2, "voter", false), m(3, "voter", false)], 1)),
    "1:voter 2:voter 3:voter",
  );
});

Deno.test("lowering the limits shrinks the roles; raising them grows them back", () => {
  const five = [m(1, "voter"), m(2, "voter"), m(3, "voter"), m(4, "voter"), m(5, "voter"), m(6, "standby")];
  assert.equal(
    roles(settle(five, 1, { maxVoters: 3, maxStandby: 0 })),
    "1:voter 2:voter 3:voter 4:spare 5:spare 6:spare",
  );
  assert.equal(
    roles(
      settle(five.map((x) => ({ ...x, role: x.id <= 3 ? "voter" : "spare" as const })), 1, {
        maxVoters: 5,
        maxStandby: 1,
      }),
    ),
    "1:voter 2:voter 3:voter 4:voter 5:voter 6:standby",
  );
});

function inDomain(x: RoleInput, domain: string): RoleInput {
  return { ...x, failureDomain: domain };
}

Deno.test("a lost voter's seat goes to its own failure domain, a spare there before a stand-by elsewhere", () => {
  const ms = [
    inDomain(m(1, "voter"), "rack1"),
    inDomain(m(2, "voter", false), "rack2"),
    inDomain(m(3, "voter"), "rack3"),
    inDomain(m(4, "standby"), "rack1"),
    inDomain(m(5, "standby"), "rack3"),
    inDomain(m(6, "spare"), "rack2"),
    inDomain(m(7, "spare"), "rack1"),
  ];
  assert.equal(roles(settle(ms, 1)), "1:voter 2:spare 3:voter 4:standby 5:standby 6:voter 7:spare");
});

Deno.test("a spare in the lost voter's domain first catches up as a stand-by, then takes the seat", () => {
  const ms = [
    inDomain(m(1, "voter"), "rack1"),
    inDomain(m(2, "voter", false), "rack2"),
    inDomain(m(3, "voter"), "rack3"),
    inDomain(m(4, "standby"), "rack1"),
    inDomain(m(5, "standby"), "rack3"),
    inDomain(m(6, "spare", true, false), "rack2"), // a spare holds no log: never caught up
    inDomain(m(7, "spare", true, false), "rack1"),
  ];
  assert.deepEqual(nextRoleChange(ms, 1, L), {
    id: 6,
    role: "standby",
    reason: "catching up to take a voter's seat",
  });
  ms[5]!.role = "standby";
  // Catching up: nothing moves (three stand-bys are one too many, but 6 is not dropped).
  assert.equal(nextRoleChange(ms, 1, L), null);
  ms[5]!.caughtUp = true;
  assert.equal(roles(settle(ms, 1)), "1:voter 2:spare 3:voter 4:standby 5:standby 6:voter 7:spare");
});

Deno.test("without a member in the lost voter's domain, a stand-by takes the seat before a spare", () => {
  const ms = [
    m(1, "voter"),
    m(2, "voter", false),
    m(3, "voter"),
    m(4, "spare"),
    m(5, "standby"),
    m(6, "standby"),
  ];
  assert.equal(roles(settle(ms, 1)), "1:voter 2:spare 3:voter 4:standby 5:voter 6:standby");
});

Deno.test("a spare that is not caught up is not promoted; a caught-up one is when no stand-by is", () => {
  const behind = [m(1, "voter"), m(2, "voter", false), m(3, "voter"), m(4, "spare", true, false)];
  assert.equal(nextRoleChange(behind, 1, L)?.role, "standby", "it may replicate, not vote");
  const caught = [m(1, "voter"), m(2, "voter", false), m(3, "voter"), m(4, "spare")];
  assert.equal(roles(settle(caught, 1)), "1:voter 2:spare 3:voter 4:voter");
});

Deno.test("stand-bys spread over domains that hold no voter or stand-by yet", () => {
  const ms = [
    inDomain(m(1, "voter"), "a"),
    inDomain(m(2, "voter"), "b"),
    inDomain(m(3, "voter"), "c"),
    inDomain(m(4, "spare"), "a"),
    inDomain(m(5, "spare"), "d"),
    inDomain(m(6, "spare"), "b"),
    inDomain(m(7, "spare"), "e"),
  ];
  assert.equal(roles(settle(ms, 1)), "1:voter 2:voter 3:voter 4:spare 5:standby 6:spare 7:standby");
});

Deno.test("a joiner is a stand-by while voters or stand-bys are wanted, then a spare at once", () => {
  const at = (voters: number, standbys: number, spares: number) =>
    joinerRole({ voters, standbys, members: voters + standbys + spares }, L);
  assert.equal(at(1, 0, 0), "standby", "the 2nd");
  assert.equal(at(1, 1, 0), "standby", "the 3rd: three voters wanted");
  assert.equal(at(3, 0, 0), "standby", "the 4th");
  assert.equal(at(3, 1, 0), "standby", "the 5th");
  assert.equal(at(3, 2, 0), "spare", "the 6th");
  assert.equal(at(3, 2, 10), "spare", "the 16th");
  assert.equal(
    joinerRole({ voters: 3, standbys: 2, members: 5 }, { maxVoters: 5, maxStandby: 2 }),
    "standby",
  );
});
