/**
 * Golden interaction scripts: each tests/raft/testdata/*.txt is a sequence of commands with
 * the exact output expected after each. Regenerate the outputs with
 *   deno test -A tests/raft/interaction_test.ts -- --rewrite
 * and commit the result only if you understand every line of the diff.
 */
import assert from "node:assert/strict";
import { InteractionEnv, parseCommand, parseScript, renderScript } from "./interaction_env.ts";

const dir = new URL("./testdata/", import.meta.url);
const rewrite = Deno.args.includes("--rewrite");

const files = [...Deno.readDirSync(dir)].filter((e) => e.isFile && e.name.endsWith(".txt")).map((e) => e.name)
  .sort();

for (const name of files) {
  Deno.test(`interaction: ${name}`, () => {
    const path = new URL(name, dir);
    const { blocks, trailer } = parseScript(Deno.readTextFileSync(path));
    const env = new InteractionEnv();
    const actual = blocks.map((b) => {
      let out: string;
      try {
        out = env.handle(parseCommand(b.command));
      } catch (err) {
        out = `error: ${err instanceof Error ? err.message : String(err)}`;
      }
      return { ...b, expected: out };
    });
    if (rewrite) {
      Deno.writeTextFileSync(path, renderScript(actual, trailer));
      return;
    }
    for (let i = 0; i < blocks.length; i++) {
      assert.equal(
        actual[i]!.expected,
        blocks[i]!.expected,
        `${name}:${blocks[i]!.line}: ${blocks[i]!.command}`,
      );
    }
  });
}
