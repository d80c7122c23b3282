/**
 * The mutants of mutants.ts stay live: each one's text appears exactly once in lib/raft, so that
 * it still plants its bug. Running them (minutes) is mutants.ts's job; this only notices, in
 * every test run, when lib/raft moved under a mutant and it would be reported stale.
 */
import assert from "node:assert/strict";
import { MUTANTS, occurrences } from "./mutants.ts";

Deno.test("every mutant's text appears exactly once in lib/raft", async () => {
  const stale: string[] = [];
  for (const m of MUTANTS) {
    const n = await occurrences(m);
    if (n !== 1) stale.push(`${m.name}: ${n} times in lib/raft/${m.file}`);
  }
  assert.deepEqual(stale, [], "rewrite these so that each plants its bug in today's lib/raft");
});

Deno.test("mutant names are unique", () => {
  const names = MUTANTS.map((m) => m.name);
  assert.equal(new Set(names).size, names.length);
});
