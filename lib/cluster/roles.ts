/**
 * PURE: which database role change the leader makes next, from plain data (LXD's rolesAdjust,
 * one single-server change at a time so that every step keeps a quorum).
 */

/** Database roles as Raft knows them. */
export type DbRole = "voter" | "standby" | "spare";

/** What the decision looks at for one member. */
export interface RoleInput {
  id: number;
  role: DbRole;
  online: boolean;
  /** Its log is close to the leader's (only caught-up members are promoted to voter). */
  caughtUp: boolean;
  failureDomain?: string;
}

/** One change: give member `id` the role `role`. */
export interface RoleChange {
  id: number;
  role: DbRole;
  reason: string;
}

/** Limits from cluster.max_voters and cluster.max_standby. */
export interface RoleLimits {
  maxVoters: number;
  maxStandby: number;
}

/** The number of voters to aim for: odd, at most maxVoters, one while there are only two members. */
export function targetVoters(eligible: number, maxVoters: number): number {
  if (eligible <= 2) return 1;
  let n = Math.min(eligible, maxVoters);
  if (n % 2 === 0) n--;
  return Math.max(n, 1);
}

function pick(members: RoleInput[], preferDomains: Set<string>): RoleInput | undefined {
  // Spread voters over failure domains: prefer a member whose domain has no voter yet.
  const sorted = [...members].sort((a, b) => a.id - b.id);
  return sorted.find((m) => m.failureDomain !== undefined && !preferDomains.has(m.failureDomain)) ??
    sorted[0];
}

/**
 * The next role change, or null when roles are as they should be. The leader is never demoted
 * here (it hands leadership over first).
 */
export function nextRoleChange(
  members: RoleInput[],
  leaderId: number,
  limits: RoleLimits,
): RoleChange | null {
  const voters = members.filter((m) => m.role === "voter");
  const standbys = members.filter((m) => m.role === "standby");
  const onlineVoters = voters.filter((m) => m.online);
  // The target counts every member: one that is offline must not make the cluster shed the
  // voters that keep it available (its seat goes to a stand-by instead, below).
  const target = targetVoters(members.length, limits.maxVoters);
  const voterDomains = new Set(onlineVoters.map((m) => m.failureDomain ?? "default"));

  // 1. An offline voter gives its seat to an online member that can take it.
  const offlineVoter = voters.find((m) => !m.online && m.id !== leaderId);
  const promotable = standbys.filter((m) => m.online && m.caughtUp);
  if (offlineVoter && promotable.length > 0) {
    return { id: offlineVoter.id, role: "spare", reason: "voter is offline" };
  }
  // 2. Too few voters: promote a caught-up stand-by.
  if (onlineVoters.length < target && promotable.length > 0) {
    return { id: pick(promotable, voterDomains)!.id, role: "voter", reason: "fewer voters than wanted" };
  }
  // 3. Too many voters (limit lowered, or an even count): demote one that is not the leader.
  if (voters.length > target && voters.length > 1) {
    const extra = [...voters].filter((m) =>
      m.id !== leaderId
    ).sort((a, b) => Number(a.online) - Number(b.online) || b.id - a.id)[0];
    if (extra) {
      return { id: extra.id, role: "standby", reason: "more voters than wanted" };
    }
  }
  // 4. An offline stand-by gives its place to an online spare.
  const spares = members.filter((m) => m.role === "spare" && m.online);
  const offlineStandby = standbys.find((m) => !m.online);
  if (offlineStandby && spares.length > 0) {
    return { id: offlineStandby.id, role: "spare", reason: "stand-by is offline" };
  }
  // 5. Too few stand-bys: a spare starts replicating.
  const onlineStandbys = standbys.filter((m) => m.online);
  if (onlineStandbys.length < limits.maxStandby && spares.length > 0) {
    return { id: pick(spares, new Set())!.id, role: "standby", reason: "fewer stand-bys than wanted" };
  }
  // 6. Too many stand-bys.
  if (standbys.length > limits.maxStandby) {
    const extra = [...standbys].sort((a, b) => Number(a.online) - Number(b.online) || b.id - a.id)[0]!;
    return { id: extra.id, role: "spare", reason: "more stand-bys than wanted" };
  }
  return null;
}
