/**
 * Where a new instance goes when the client names no member (LXD 5.0.2's scheduler): the
 * member with the fewest instances among those that may take one, a tie to the lowest member
 * ID. Pure: the caller gathers the facts.
 */

/** What placement knows of a member. */
export interface Candidate {
  id: number;
  name: string;
  online: boolean;
  evacuated: boolean;
  /** scheduler.instance: "all" (default), "group" (only through @group), "manual" (only by name). */
  scheduler: string;
  groups: string[];
  instances: number;
}

/**
 * No target (null), a cluster group (`--target @GROUP`), or no target in a restricted project
 * whose restricted.cluster.groups bound where its instances go (any member of those groups).
 */
export type PlacementTarget = { group: string } | { within: string[] } | null;

/**
 * The member a new instance goes to, or null when none may take it. Offline and evacuated
 * members never do; "manual" ones only when named (not here); "group" ones only through their
 * group.
 */
export function placeInstance(members: Candidate[], target: PlacementTarget): Candidate | null {
  let best: Candidate | null = null;
  for (const m of [...members].sort((a, b) => a.id - b.id)) {
    if (!m.online || m.evacuated) continue;
    const scheduler = m.scheduler || "all";
    if (target === null) {
      if (scheduler !== "all") continue;
    } else if ("within" in target) {
      if (scheduler !== "all" || !m.groups.some((g) => target.within.includes(g))) continue;
    } else {
      if (!m.groups.includes(target.group)) continue;
      if (scheduler === "manual") continue;
    }
    if (best === null || m.instances < best.instances) best = m;
  }
  return best;
}
