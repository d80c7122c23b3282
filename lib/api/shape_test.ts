import assert from "node:assert/strict";
import { StatusError } from "../util/mod.ts";
import { checkBodyShape } from "./shape.ts";

function refusal(body: Record<string, unknown>, fields = {}): string {
  try {
    checkBodyShape(body, fields);
  } catch (e) {
    assert.ok(e instanceof StatusError && e.status === 400, String(e));
    return e.message;
  }
  return "";
}

Deno.test("fields of the wrong JSON type are refused with a 400 naming them", () => {
  assert.equal(refusal({ name: 123 }), 'Invalid "name": must be a string, not a number');
  assert.equal(refusal({ name: ["x"] }), 'Invalid "name": must be a string, not an array');
  assert.equal(
    refusal({ profiles: "default" }),
    'Invalid "profiles": must be an array of strings, not a string',
  );
  assert.equal(
    refusal({ profiles: ["a", 1] }),
    'Invalid "profiles[1]": must be a string, not a number',
  );
  assert.equal(
    refusal({ config: { "limits.memory": {} } }),
    'Invalid "config.limits.memory": must be a string, not an object',
  );
  assert.equal(
    refusal({ devices: [] }),
    'Invalid "devices": must be an object of devices, not an array',
  );
  assert.equal(
    refusal({ devices: { d: null } }),
    'Invalid "devices.d": must be an object of strings, not null',
  );
  assert.equal(
    refusal({ devices: { root: { type: "disk", pool: { a: 1 } } } }),
    'Invalid "devices.root.pool": must be a string, not an object',
  );
  assert.equal(
    refusal({ restricted: "yes" }),
    'Invalid "restricted": must be a boolean, not a string',
  );
});

Deno.test("what Go's decoder takes is taken: nulls, unknown fields, a route's own types", () => {
  const b: Record<string, unknown> = {
    name: null,
    description: "d",
    config: { a: null, b: "x" },
    extra: { any: 1 },
  };
  assert.equal(refusal(b), "");
  // A null field is as if absent; a null map entry is "".
  assert.deepEqual(b, { description: "d", config: { a: "", b: "x" }, extra: { any: 1 } });
  assert.equal(refusal({ config: { n: 5, t: true, s: "x" } }, { config: "scalars" }), "");
  assert.equal(
    refusal({ config: { n: 5 } }),
    'Invalid "config.n": must be a string, not a number',
  );
});
