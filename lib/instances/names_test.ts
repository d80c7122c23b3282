import assert from "node:assert/strict";
import { instanceNameProblem } from "./names.ts";

Deno.test("instance names follow LXD's hostname rule, with its texts", () => {
  assert.equal(instanceNameProblem("c1"), null);
  assert.equal(instanceNameProblem("web-01"), null);
  assert.equal(instanceNameProblem("1c"), "Invalid instance name: Name must not start with a number");
  assert.equal(instanceNameProblem("-c"), 'Invalid instance name: Name must not start with "-" character');
  assert.equal(instanceNameProblem("c-"), 'Invalid instance name: Name must not end with "-" character');
  assert.equal(
    instanceNameProblem("a_b"),
    "Invalid instance name: Name can only contain alphanumeric and hyphen characters",
  );
  assert.equal(
    instanceNameProblem("x".repeat(64)),
    "Invalid instance name: Name must be 1-63 characters long",
  );
  assert.equal(instanceNameProblem(""), "Invalid instance name: Name must be 1-63 characters long");
  assert.equal(instanceNameProblem("a/b"), 'The character "/" is reserved for snapshots');
});
