import assert from "node:assert/strict";
import { matchesFilter, parseFilter } from "./instances_filter.ts";

Deno.test("LXD's API filters: eq/ne, and/or/not, dotted config keys", () => {
  const i = { name: "c1", status: "Running", config: { "image.os": "busybox" }, location: "none" };
  assert.ok(matchesFilter(parseFilter(""), i));
  assert.ok(matchesFilter(parseFilter("name eq c1"), i));
  assert.ok(!matchesFilter(parseFilter("name eq c2"), i));
  assert.ok(matchesFilter(parseFilter("status eq running and config.image.os eq busybox"), i));
  assert.ok(matchesFilter(parseFilter("name eq c2 or name eq c1"), i));
  assert.ok(matchesFilter(parseFilter("not name eq c2"), i));
  assert.ok(matchesFilter(parseFilter("name ne c2"), i));
  assert.throws(() => parseFilter("name is c1"), /Invalid filter/);
});
