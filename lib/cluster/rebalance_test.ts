import assert from "node:assert/strict";
import type { ConfState } from "../raft/mod.ts";
import { roleInputs } from "./rebalance.ts";

const conf: ConfState = { voters: [1, 2], standbys: [3], spares: [4] };
const nodes = [1, 2, 3, 4, 5].map((id) => ({ id, address: `10.0.0.${id}:8443`, failure_domain: "default" }));
const online = (down: number[]) => (address: string) => !down.some((d) => address === `10.0.0.${d}:8443`);

Deno.test("roleInputs(): one line per member of the configuration, as the decision reads it", () => {
  const cases: {
    name: string;
    commit: number;
    progress: Record<number, number> | null;
    down: number[];
    want: string;
  }[] = [
    {
      name: "everyone caught up and online; member 5 is not in the configuration",
      commit: 100,
      progress: { 2: 100, 3: 90, 4: 100 },
      down: [],
      want: "1 voter up caught | 2 voter up caught | 3 standby up caught | 4 spare up behind",
    },
    {
      name: "more than 64 entries behind is not caught up; a spare never is (it holds no log)",
      commit: 200,
      progress: { 2: 136, 3: 135, 4: 0 },
      down: [],
      want: "1 voter up caught | 2 voter up caught | 3 standby up behind | 4 spare up behind",
    },
    {
      name: "a member that never acknowledged anything is behind; the offline are marked",
      commit: 10,
      progress: { 2: 0, 3: 10, 4: 10 },
      down: [3],
      want: "1 voter up caught | 2 voter up behind | 3 standby down caught | 4 spare up behind",
    },
    {
      name: "no status (not leading): the leader's own line still counts from commit 0",
      commit: 0,
      progress: null,
      down: [],
      want: "1 voter up behind | 2 voter up behind | 3 standby up behind | 4 spare up behind",
    },
  ];
  for (const c of cases) {
    const status = c.progress === null ? null : {
      commit: c.commit,
      progress: Object.fromEntries(
        Object.entries(c.progress).map(([id, match]) => [
          id,
          { match, next: match + 1, state: "replicate" as const, recentActive: true },
        ]),
      ),
    };
    const got = roleInputs(nodes, conf, status, 1, online(c.down))
      .map((m) => `${m.id} ${m.role} ${m.online ? "up" : "down"} ${m.caughtUp ? "caught" : "behind"}`)
      .join(" | ");
    assert.equal(got, c.want, c.name);
  }
});
