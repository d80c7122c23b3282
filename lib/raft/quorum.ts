/**
 * Quorum arithmetic over a set of voters: the highest index a majority has, and the outcome
 * of a vote. Pure functions of their arguments.
 * @module
 */
import type { NodeId } from "./types.ts";

/** Votes needed out of `n` voters. */
export function quorumSize(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * The largest index that a majority of `voters` have (by `matchOf`). With no voters nothing is
 * committed by counting, so 0.
 */
export function committedIndex(voters: Iterable<NodeId>, matchOf: (id: NodeId) => number): number {
  const matches: number[] = [];
  for (const id of voters) matches.push(matchOf(id));
  if (matches.length === 0) return 0;
  matches.sort((a, b) => b - a);
  return matches[quorumSize(matches.length) - 1] ?? 0;
}

export type VoteResult = "won" | "lost" | "pending";

/** Outcome of a vote among `voters`; `votes` holds the answers received so far. */
export function voteResult(voters: Iterable<NodeId>, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let n = 0, granted = 0, missing = 0;
  for (const id of voters) {
    n++;
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  const q = quorumSize(n);
  if (n === 0) return "lost";
  if (granted >= q) return "won";
  if (granted + missing >= q) return "pending";
  return "lost";
}
