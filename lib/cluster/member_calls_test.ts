import assert from "node:assert/strict";
import { MEMBER_CALLS } from "./member_calls.ts";

Deno.test("member calls: every route is an /internal or /1.0 route, and paths fill it in", () => {
  for (const [name, c] of Object.entries(MEMBER_CALLS)) {
    assert.match(c.route, /^\/(internal|1\.0)\//, name);
  }
  assert.equal(MEMBER_CALLS.heartbeat.path({ leader: "a", term: 1, silent: [] }), "/internal/heartbeat");
  assert.equal(MEMBER_CALLS.recentEvents.path({ since: 42 }), "/internal/events/recent?since=42");
  assert.equal(MEMBER_CALLS.recentEvents.body({ since: 42 }), undefined);
  assert.equal(
    MEMBER_CALLS.removeMember.path({ name: "a b", force: true }),
    "/1.0/cluster/members/a%20b?force=1",
  );
  assert.equal(MEMBER_CALLS.removeMember.path({ name: "m1", force: false }), "/1.0/cluster/members/m1");
  assert.equal(MEMBER_CALLS.operation.path({ id: "x/y" }), "/1.0/operations/x%2Fy");
  assert.deepEqual(MEMBER_CALLS.handover.body({ id: 3 }), { id: 3 });
});
