import assert from "node:assert/strict";
import { blockedReason, compareVersions, refusalReason } from "./upgrade.ts";

const row = (id: number, name: string, schema: number, api: number) => ({
  id,
  name,
  schema,
  api_extensions: api,
});

Deno.test("versions compare by schema and API extension count together", () => {
  assert.equal(compareVersions({ schema: 3, api: 40 }, { schema: 3, api: 40 }), 0);
  assert.equal(compareVersions({ schema: 3, api: 41 }, { schema: 3, api: 40 }), 1);
  assert.equal(compareVersions({ schema: 4, api: 40 }, { schema: 3, api: 40 }), 1);
  assert.equal(compareVersions({ schema: 3, api: 39 }, { schema: 3, api: 40 }), -1);
  assert.ok(Number.isNaN(compareVersions({ schema: 4, api: 39 }, { schema: 3, api: 40 })));
});

Deno.test("a member newer than another is blocked, naming the ones still to upgrade", () => {
  const nodes = [row(1, "m1", 3, 40), row(2, "m2", 3, 40), row(3, "m3", 3, 41)];
  assert.equal(blockedReason(nodes[0]!, nodes), null);
  const why = blockedReason(nodes[2]!, nodes);
  assert.match(
    why ?? "",
    /Waiting for other cluster members to be upgraded: m1 \(schema 3, 40 API extensions\), m2/,
  );
  assert.match(why ?? "", /this member \(schema 3, 41 API extensions\)/);
  // Once the last one is upgraded nobody waits.
  const done = [row(1, "m1", 3, 41), row(2, "m2", 3, 41), row(3, "m3", 3, 41)];
  assert.ok(done.every((n) => blockedReason(n, done) === null));
});

Deno.test("a member older than every other is refused with both versions; older than some is not", () => {
  const others = [row(1, "m1", 3, 41), row(2, "m2", 3, 41)];
  assert.match(
    refusalReason({ schema: 3, api: 40 }, others) ?? "",
    /behind the cluster: it runs schema 3, 40 API extensions, the other members run schema 3, 41/,
  );
  assert.equal(refusalReason({ schema: 3, api: 40 }, [row(1, "m1", 3, 41), row(2, "m2", 3, 40)]), null);
  assert.equal(refusalReason({ schema: 3, api: 40 }, []), null);
  assert.match(refusalReason({ schema: 4, api: 39 }, others) ?? "", /cannot be ordered/);
});
