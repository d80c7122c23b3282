import assert from "node:assert/strict";
import { checkKey, healingProblem } from "../db/mod.ts";
import { fenceSeconds } from "./fence.ts";
import { healBlocker } from "./heal.ts";

Deno.test("fenceSeconds(): members fence only while healing is on, with cluster.fence_time", () => {
  assert.equal(fenceSeconds({}), 0);
  assert.equal(fenceSeconds({ "cluster.healing_threshold": "30" }), 10);
  assert.equal(fenceSeconds({ "cluster.healing_threshold": "30", "cluster.fence_time": "4" }), 4);
  assert.equal(fenceSeconds({ "cluster.healing_threshold": "0", "cluster.fence_time": "4" }), 0);
});

Deno.test("healingProblem(): the healing threshold leaves a member its fence time plus a margin", () => {
  assert.equal(healingProblem({}), null);
  assert.equal(healingProblem({ "cluster.healing_threshold": "20" }), null);
  assert.match(
    healingProblem({ "cluster.healing_threshold": "19" })!,
    /must exceed cluster.fence_time \(10\)/,
  );
  assert.equal(healingProblem({ "cluster.healing_threshold": "12", "cluster.fence_time": "2" }), null);
  assert.match(checkKey("cluster.fence_time", "1")!, /at least 2/);
  assert.match(checkKey("cluster.healing_threshold", "-1")!, /0 or more/);
});

Deno.test("healBlocker(): only a member offline past the threshold that said it fences in time", () => {
  const base = { thresholdS: 20, silentMs: 21_000, online: false, evacuated: false, fenceS: 10 };
  assert.equal(healBlocker(base), null);
  assert.equal(healBlocker({ ...base, thresholdS: 0 }), "healing is off");
  assert.equal(healBlocker({ ...base, silentMs: 19_000 }), "not offline for the healing threshold");
  assert.equal(healBlocker({ ...base, evacuated: true }), "already evacuated");
  assert.match(healBlocker({ ...base, fenceS: undefined })!, /never said it fences/);
  assert.match(healBlocker({ ...base, fenceS: 0 })!, /never said it fences/);
  assert.match(healBlocker({ ...base, fenceS: 15 })!, /beyond the healing threshold/);
});
