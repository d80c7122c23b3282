import assert from "node:assert/strict";
import { fuzz } from "./fuzz.ts";
import type { Bugs } from "../../lib/raft/mod.ts";

Deno.test("randomized faults: 150 seeds keep every safety property and heal to a committing leader", () => {
  for (let seed = 1; seed <= 150; seed++) {
    const r = fuzz({ seed });
    assert.equal(r.violation, undefined, `seed ${seed}: ${r.violation}`);
  }
});

Deno.test("randomized faults with 1 to 4 members", () => {
  for (const nodes of [1, 2, 3, 4]) {
    for (let seed = 1; seed <= 40; seed++) {
      const r = fuzz({ seed, nodes });
      assert.equal(r.violation, undefined, `nodes ${nodes} seed ${seed}: ${r.violation}`);
    }
  }
});

// figure8 needs a longer chain of faults than this small harness produces; the Figure 8 test in
// lib/raft/raft_paper_test.ts scripts it, and the simulator (tests/raft/sim) finds it by search.
const BUGS: [keyof Bugs, RegExp][] = [
  ["voteWithoutLogCheck", /leader completeness|state machine safety/],
  ["voteNotPersisted", /election safety/],
  ["applyBeforeCommit", /state machine safety|stale read|leader completeness/],
  ["staleRead", /stale read/],
];

for (const [bug, expected] of BUGS) {
  Deno.test(`randomized faults catch the planted bug ${bug} within 500 seeds`, () => {
    for (let seed = 1; seed <= 500; seed++) {
      const r = fuzz({ seed, bugs: { [bug]: true }, liveness: false });
      if (r.violation) {
        assert.match(r.violation, expected);
        return;
      }
    }
    assert.fail(`bug ${bug} not caught in 500 seeds`);
  });
}
