/** The driver's own metrics (GET /1.0/metrics): leader changes and commit latency. */
import { METRICS } from "../util/metrics.ts";

export const leaderChanges = METRICS.counter(
  "shoal_raft_leader_changes_total",
  "Times this member saw the leader change.",
);
export const commitSeconds = METRICS.histogram(
  "shoal_raft_commit_seconds",
  "From a proposal on the leader to its entry applied here (commit latency).",
);
