import assert from "node:assert/strict";
import { YAML } from "./yaml.ts";

// scripts/bundle's build of the package's browser build, which commands load instead of
// requiring the package (lib/util/yaml.ts): it must build, load on its own (no Node.js
// built-ins, no npm resolution) and read and write YAML as the required package does.
Deno.test("the single-file yaml build loads alone and agrees with the package", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shoal-yaml-" });
  try {
    const root = new URL("../../", import.meta.url).pathname;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--config",
        `${root}deno.json`,
        "--platform",
        "browser",
        "--minify",
        "--outdir",
        dir,
        `${root}lib/util/yaml_bundle.ts`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const text = await Deno.readTextFile(`${dir}/yaml_bundle.js`);
    assert.doesNotMatch(text, /from\s*"(node:|npm:)|require\(/, "the build must stand alone");
    const built = await import(`file://${dir}/yaml_bundle.js`) as typeof YAML;
    const doc =
      "config:\n  core.https_address: 127.0.0.1:8443\ncluster:\n  enabled: true\n  member_config:\n    - entity: storage-pool\n      key: source\n      value: ''\n";
    assert.deepEqual(built.parse(doc), YAML.parse(doc));
    const value = { config: { "a.b": "x: y", n: "1" }, list: [{ k: true }], empty: {} };
    assert.equal(built.stringify(value, { indentSeq: false }), YAML.stringify(value, { indentSeq: false }));
    assert.throws(() => built.parse("a: [\n"), /Flow sequence/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
