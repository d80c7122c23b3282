import assert from "node:assert/strict";
import { nameProblem } from "./names.ts";

Deno.test("one rule for names that become paths: pools, volumes, networks, aliases, members", () => {
  for (const kind of ["pool", "volume", "network", "image alias", "member"] as const) {
    for (const bad of ["", ".", "..", "a/b", "a\\b", "a b", "a\0b", "é", 42]) {
      assert.notEqual(nameProblem(kind, bad), null, `${kind} ${JSON.stringify(bad)}`);
    }
  }
  assert.equal(nameProblem("pool", ".."), 'Invalid pool name "..": Cannot be ".."');
  assert.equal(nameProblem("pool", ".hidden"), 'Invalid pool name ".hidden": Cannot start with a dot');
  assert.equal(nameProblem("pool", "-x"), 'Invalid pool name "-x": Cannot start with a hyphen');
  assert.equal(nameProblem("volume", ".dot"), null);
  assert.equal(
    nameProblem("network", "a..b"),
    'Invalid network name "a..b": Cannot contain consecutive dots',
  );
  assert.equal(nameProblem("member", "none"), 'Invalid member name "none": Cannot be "none"');
  for (const kind of ["pool", "volume", "network", "image alias", "member"] as const) {
    assert.equal(nameProblem(kind, "ok-name1"), null);
  }
});
