/**
 * Proof that the simulator bites: each planted bug in the core is caught within 500 seeds,
 * by the full set of checks and by the end-to-end properties alone, while the correct core
 * passes. Runs `deno task sim` as a subprocess, exactly as CI and the acceptance check do.
 */
import assert from "node:assert/strict";
import { BUG_NAMES } from "../../../lib/raft/types.ts";
import { CONTRACT_CHECKS } from "./invariants.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;

async function sim(...args: string[]): Promise<{ code: number; out: string }> {
  const p = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  });
  const r = await p.output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

Deno.test("the correct core passes a run of seeds", async () => {
  const r = await sim("--seeds", "60", "--seed", "7");
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^sim: 60 seeds, 60 passed, 0 failed/m);
});

for (const bug of Object.keys(BUG_NAMES)) {
  Deno.test(`planted bug ${bug} is caught within 500 seeds`, async () => {
    const r = await sim("--bug", bug, "--seeds", "500", "--quiet");
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /^FAIL seed \d+: /m);
    assert.match(r.out, new RegExp(`replay: deno task sim --seed \\d+ --seeds 1 .*--bug ${bug}`));
    assert.match(r.out, /last \d+ events/);
  });

  Deno.test(`planted bug ${bug} is caught by the end-to-end checks alone`, async () => {
    const r = await sim("--bug", bug, "--seeds", "500", "--quiet", "--end-to-end-only");
    assert.equal(r.code, 1, r.out);
    const check = /^FAIL seed \d+: ([a-z -]+):/m.exec(r.out)?.[1];
    assert.ok(
      check && !(CONTRACT_CHECKS as readonly string[]).includes(check),
      `caught by ${check}, a direct check that should be off:\n${r.out}`,
    );
  });
}

Deno.test("a failing seed replays to the same failure", async () => {
  const first = await sim("--bug", "vote-without-log-check", "--seeds", "500", "--quiet");
  const replay = /replay: deno task sim (.*)$/m.exec(first.out)?.[1];
  assert.ok(replay, first.out);
  const again = await sim(...replay.split(" "), "--quiet");
  assert.equal(again.code, 1);
  const line = (s: string) => /^FAIL seed .*$/m.exec(s)?.[0];
  assert.equal(line(again.out), line(first.out));
});
