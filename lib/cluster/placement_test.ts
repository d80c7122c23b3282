import assert from "node:assert/strict";
import { type Candidate, placeInstance } from "./placement.ts";

const m = (id: number, instances: number, o: Partial<Candidate> = {}): Candidate => ({
  id,
  name: `m${id}`,
  online: true,
  evacuated: false,
  scheduler: "all",
  groups: ["default"],
  instances,
  ...o,
});

Deno.test("placement: fewest instances, a tie to the lowest member ID", () => {
  assert.equal(placeInstance([m(3, 0), m(2, 1), m(1, 0)], null)?.name, "m1");
  assert.equal(placeInstance([m(1, 1), m(2, 1), m(3, 0)], null)?.name, "m3");
  assert.equal(placeInstance([m(1, 2), m(2, 1), m(3, 1)], null)?.name, "m2");
});

Deno.test("placement skips offline, evacuated, manual and group-only members", () => {
  const ms = [
    m(1, 0, { online: false }),
    m(2, 0, { evacuated: true }),
    m(3, 0, { scheduler: "manual" }),
    m(4, 0, { scheduler: "group", groups: ["default", "g"] }),
    m(5, 3),
  ];
  assert.equal(placeInstance(ms, null)?.name, "m5");
  assert.equal(placeInstance(ms.slice(0, 4), null), null);
});

Deno.test("placement through a group: its members only, group-only ones too, never manual ones", () => {
  const ms = [
    m(1, 0),
    m(2, 5, { groups: ["default", "g"] }),
    m(3, 1, { scheduler: "group", groups: ["g"] }),
    m(4, 0, { scheduler: "manual", groups: ["g"] }),
  ];
  assert.equal(placeInstance(ms, { group: "g" })?.name, "m3");
  assert.equal(placeInstance(ms, { group: "nosuch" }), null);
});

Deno.test("a restricted project's instances go to the least loaded member of its allowed groups", () => {
  const g = (id: number, instances: number, groups: string[]): Candidate => ({
    id,
    name: `m${id}`,
    online: true,
    evacuated: false,
    scheduler: "all",
    groups,
    instances,
  });
  const ms = [g(1, 0, ["default"]), g(2, 3, ["default", "a"]), g(3, 1, ["default", "b"])];
  assert.equal(placeInstance(ms, { within: ["a", "b"] })?.name, "m3");
  assert.equal(placeInstance(ms, { within: ["a"] })?.name, "m2");
  assert.equal(placeInstance(ms, { within: ["nowhere"] }), null);
});
