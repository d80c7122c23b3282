/**
 * The launchers' bundle carries its own build of commander on cmd/cli/commander_node.ts instead
 * of Node's built-ins (scripts/commander_copy.ts, see there why): the same command line must
 * print the same help, the same errors and suggestions and exit with the same codes as the
 * sources, which use the npm package as it is (SHOAL_BUNDLE=0). No member: every case is parsing,
 * help, or a command that fails to reach the (absent) daemon.
 */
import assert from "node:assert/strict";
import { run, SHOAL, SHOALD, tempDir } from "../helpers/member.ts";

const CASES: string[][] = [
  ["--help"],
  ["help"],
  ["help", "cluster"],
  ["cluster"],
  ["cluster", "list", "--help"],
  ["cluster", "lst"],
  ["lis"],
  ["list", "--bogus"],
  ["list", "--format"],
  ["list", "--format", "xml"],
  ["cluster", "list", "a", "b"],
  ["launch"],
  ["config", "set"],
  ["storage", "volume", "--help"],
  ["remote", "list"],
  ["version"],
  ["--project", "p1", "list"],
  ["list"],
  ["completion", "tcsh"],
];

Deno.test("the bundle's commander parses, helps and fails as the npm package does", async () => {
  await using dir = await tempDir("cli-bundle");
  const env = { SHOAL_DIR: `${dir.path}/none`, SHOAL_CONF: `${dir.path}/conf` };
  for (const args of CASES) {
    const bundled = await run(SHOAL, args, { env });
    const sources = await run(SHOAL, args, { env: { ...env, SHOAL_BUNDLE: "0" } });
    assert.deepEqual(bundled, sources, `shoal ${args.join(" ")}`);
  }
  for (const args of [["--help"], ["init", "--bogus"], ["sql"]]) {
    const bundled = await run(SHOALD, args, { env });
    const sources = await run(SHOALD, args, { env: { ...env, SHOAL_BUNDLE: "0" } });
    assert.deepEqual(bundled, sources, `shoald ${args.join(" ")}`);
  }
  // And the bundle really has its own commander: no chunk imports the npm package (whose
  // Node.js built-ins are what it saves), unless scripts/bundle said why not.
  const bundle = new URL("../../dist/bundle/", import.meta.url).pathname;
  for await (const e of Deno.readDir(bundle)) {
    if (!e.name.endsWith(".js")) continue;
    const text = await Deno.readTextFile(`${bundle}${e.name}`);
    assert.ok(
      !/from\s*"commander"|import\(\s*"commander"\s*\)/.test(text),
      `${e.name} imports npm commander`,
    );
  }
});
