import assert from "node:assert/strict";
import { firstCommandWord, groupsFor } from "./command_group.ts";
import { CliContext } from "./context.ts";
import { groups } from "./mod.ts";

Deno.test("firstCommandWord() skips the root's options as commander reads them", () => {
  assert.equal(firstCommandWord(["list"]), "list");
  assert.equal(firstCommandWord(["cluster", "list"]), "cluster");
  assert.equal(firstCommandWord(["--project", "p1", "list", "-c", "ns"]), "list");
  assert.equal(firstCommandWord(["--project=p1", "-q", "--debug", "ls"]), "ls");
  assert.equal(firstCommandWord(["-v", "--verbose", "--force-local", "--quiet", "info"]), "info");
  assert.equal(firstCommandWord(["--project", "list"]), undefined); // "list" is the project
  for (
    const argv of [[], ["--help"], ["-h"], ["--version"], ["--", "list"], ["-qv", "list"], [
      "--bogus",
      "list",
    ]]
  ) {
    assert.equal(firstCommandWord(argv), undefined, argv.join(" "));
  }
});

Deno.test("every group answers to exactly the names and aliases of the commands it builds", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shoal-groups-" });
  const saved = Deno.env.get("SHOAL_CONF");
  Deno.env.set("SHOAL_CONF", dir);
  try {
    const ctx = new CliContext("shoal");
    const seen = new Set<string>();
    for (const g of groups) {
      const built = g.build(ctx).flatMap((c) => [c.name(), ...c.aliases()]);
      assert.deepEqual([...g.names].sort(), built.sort(), `group ${g.names.join(",")}`);
      for (const n of g.names) {
        assert.ok(!seen.has(n), `${n} is in two groups`);
        seen.add(n);
      }
    }
    // A line names one group, or gets them all (help, typos, options first).
    assert.deepEqual(groupsFor(["ls"], groups).groups.map((g) => g.names[0]), ["init"]);
    assert.equal(groupsFor(["cluster", "list"], groups).all, false);
    for (
      const argv of [["help", "cluster"], ["lis"], ["--help"], ["completion", "bash"], ["__complete", "cl"]]
    ) {
      assert.equal(groupsFor(argv, groups).all, true, argv.join(" "));
    }
  } finally {
    if (saved === undefined) Deno.env.delete("SHOAL_CONF");
    else Deno.env.set("SHOAL_CONF", saved);
    await Deno.remove(dir, { recursive: true });
  }
});
