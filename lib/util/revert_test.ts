import assert from "node:assert/strict";
import { Revert } from "./revert.ts";

Deno.test("Revert: undo steps run newest first, a failing one is reported and the rest still run", async () => {
  const done: string[] = [];
  const failed: string[] = [];
  const r = new Revert();
  r.add("undo a", () => done.push("a"));
  r.add("undo b", () => {
    throw new Error("b is stuck");
  });
  r.add("undo c", async () => {
    await Promise.resolve();
    done.push("c");
  });
  await r.fail((what, err) => failed.push(`${what}: ${err}`));
  assert.deepEqual(done, ["c", "a"]);
  assert.deepEqual(failed, ["undo b: b is stuck"]);
  // Spent: a second failure has nothing left to undo.
  await r.fail();
  assert.deepEqual(done, ["c", "a"]);
});

Deno.test("Revert: after success() nothing is undone", async () => {
  const done: string[] = [];
  const r = new Revert();
  r.add("undo a", () => done.push("a"));
  r.success();
  await r.fail();
  assert.deepEqual(done, []);
});
