import assert from "node:assert/strict";
import type { ConfState } from "../raft/mod.ts";
import { standbyToPromote } from "./handover.ts";

const nodes = [1, 2, 3, 4, 5].map((id) => ({ id, address: `m${id}` }));
function status(matches: Record<number, number>) {
  return {
    progress: Object.fromEntries(
      Object.entries(matches).map(([id, match]) => [
        id,
        { match, next: match + 1, state: "replicate" as const, recentActive: true },
      ]),
    ),
  };
}

Deno.test("standbyToPromote(): the first online stand-by that has acknowledged the leader's log", () => {
  const conf: ConfState = { voters: [1, 2, 3], standbys: [4, 5], spares: [] };
  const cases: { name: string; down: string[]; matches: Record<number, number> | null; want?: number }[] = [
    { name: "both fit: the first in the configuration", down: [], matches: { 4: 9, 5: 9 }, want: 4 },
    { name: "the first is offline", down: ["m4"], matches: { 4: 9, 5: 9 }, want: 5 },
    { name: "the first never acknowledged anything", down: [], matches: { 4: 0, 5: 3 }, want: 5 },
    { name: "none online", down: ["m4", "m5"], matches: { 4: 9, 5: 9 } },
    { name: "no leader status", down: [], matches: null },
  ];
  for (const c of cases) {
    const got = standbyToPromote(
      conf,
      nodes,
      c.matches ? status(c.matches) : null,
      (a) => !c.down.includes(a),
    );
    assert.equal(got?.id, c.want, c.name);
  }
  assert.equal(
    standbyToPromote({ voters: [1], standbys: [], spares: [2] }, nodes, status({ 2: 5 }), () => true),
    undefined,
  );
});
