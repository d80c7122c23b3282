import assert from "node:assert/strict";
import { createRequestProblem, keepVolatile, updateRequestProblem } from "./requests.ts";

Deno.test("a create request is refused on its own terms, with LXD's texts", () => {
  assert.equal(createRequestProblem({ name: "c1", source: { type: "none" } }), null);
  assert.equal(createRequestProblem({}), "Instance name is required");
  assert.equal(
    createRequestProblem({ name: "c1", type: "virtual-machine" }),
    'Instance type "virtual-machine" is not supported: shoal runs containers',
  );
  assert.match(
    createRequestProblem({ name: "c1", config: { "no.such.key": "1" } }) ?? "",
    /^Invalid config: /,
  );
  assert.equal(createRequestProblem({ name: "c1", source: { type: "copy" } }), "Unknown source type copy");
  assert.notEqual(createRequestProblem({ name: "bad name" }), null);
});

Deno.test("an update keeps the daemon's volatile keys whatever the caller sent back", () => {
  assert.equal(updateRequestProblem({ config: { "limits.memory": "64MiB" } }), null);
  assert.match(updateRequestProblem({ config: { "no.such.key": "1" } }) ?? "", /^Invalid config: /);
  assert.deepEqual(
    keepVolatile(
      { "volatile.base_image": "abc", "limits.cpu": "1" },
      { "volatile.base_image": "forged", "volatile.new": "x", "limits.cpu": "2" },
    ),
    { "limits.cpu": "2", "volatile.base_image": "abc" },
  );
});
