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
  /** Evacuated (maintenance): it gives up its role and is never given one (LXD 5.x). */
  evacuated?: boolean;
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

/**
 * The role a joiner starts with: a stand-by while the cluster wants more voters or stand-bys
 * (the rebalance then promotes it), else a spare at once, which spares every join past the
 * fifth a demotion (one more membership change, committed by every member).
 */
export function joinerRole(
  now: { voters: number; standbys: number; members: number },
  limits: RoleLimits,
): "standby" | "spare" {
  const full = now.voters >= targetVoters(now.members + 1, limits.maxVoters) &&
    now.standbys >= limits.maxStandby;
  return full ? "spare" : "standby";
}

const domainOf = (m: RoleInput) => m.failureDomain ?? "default";

/**
 * The candidate to give a role to, as go-dqlite orders them: first a member whose failure domain
 * has none of `taken` (so a lost voter's seat goes back to its own domain, and roles spread over
 * domains), then stand-bys before spares (they have the log), a caught-up one first, then the
 * oldest member.
 */
function pick(candidates: RoleInput[], taken: Set<string>): RoleInput | undefined {
  const rank = (m: RoleInput) =>
    (taken.has(domainOf(m)) ? 4 : 0) + (m.role === "standby" ? 0 : 2) + (m.caughtUp ? 0 : 1);
  return [...candidates].sort((a, b) => rank(a) - rank(b) || a.id - b.id)[0];
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
  // An evacuated voter is on its way out: it counts as no vote the cluster can rely on.
  const onlineVoters = voters.filter((m) => m.online && !m.evacuated);
  // The target counts every member: one that is offline must not make the cluster shed the
  // voters that keep it available (its seat goes to a stand-by instead, below).
  const target = targetVoters(members.length, limits.maxVoters);
  const voterDomains = new Set(onlineVoters.map(domainOf));

  // 1-2. A voter's seat to fill (its holder is offline, or too few voters): it goes to the best
  // online candidate, from a domain without a voter first, a stand-by before a spare. Only a
  // caught-up member takes it; a spare holds no log (it reads through the leader), so the one
  // picked first becomes a stand-by and gets a snapshot and the log, and nothing else changes
  // while it catches up (or the same seat could go elsewhere, and the stand-by be dropped as
  // one too many). Then the offline voter gives up its seat, and the candidate takes it.
  const offlineVoter = voters.find((m) => !m.online && m.id !== leaderId);
  const candidates = members.filter((m) => m.role !== "voter" && m.online && !m.evacuated);
  const best = pick(candidates, voterDomains);
  const seat = best !== undefined && (offlineVoter !== undefined || onlineVoters.length < target);
  if (seat && !best.caughtUp && best.role === "spare") {
    return { id: best.id, role: "standby", reason: "catching up to take a voter's seat" };
  }
  if (seat && best.caughtUp && offlineVoter) {
    return { id: offlineVoter.id, role: "spare", reason: "voter is offline" };
  }
  // 1b. An evacuated member leaves its role: a voter once the others still make a majority of
  // the smaller configuration (else a replacement is promoted first, below), a stand-by at once.
  const evacuatedVoter = voters.find((m) => m.evacuated && m.id !== leaderId);
  if (evacuatedVoter && onlineVoters.length >= Math.floor((voters.length - 1) / 2) + 1) {
    return { id: evacuatedVoter.id, role: "spare", reason: "member is evacuated" };
  }
  const evacuatedStandby = standbys.find((m) => m.evacuated);
  if (evacuatedStandby) return { id: evacuatedStandby.id, role: "spare", reason: "member is evacuated" };
  if (seat && best.caughtUp && onlineVoters.length < target) {
    return { id: best.id, role: "voter", reason: "fewer voters than wanted" };
  }
  // A stand-by still catching up for a seat: nothing else moves meanwhile.
  if (seat && !best.caughtUp) return null;
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
  const spares = members.filter((m) => m.role === "spare" && m.online && !m.evacuated);
  const offlineStandby = standbys.find((m) => !m.online);
  if (offlineStandby && spares.length > 0) {
    return { id: offlineStandby.id, role: "spare", reason: "stand-by is offline" };
  }
  // 5. Too few stand-bys: a spare starts replicating.
  const onlineStandbys = standbys.filter((m) => m.online);
  if (onlineStandbys.length < limits.maxStandby && spares.length > 0) {
    const taken = new Set([...voterDomains, ...onlineStandbys.map(domainOf)]);
    return { id: pick(spares, taken)!.id, role: "standby", reason: "fewer stand-bys than wanted" };
  }
  // 6. Too many stand-bys.
  if (standbys.length > limits.maxStandby) {
    const extra = [...standbys].sort((a, b) => Number(a.online) - Number(b.online) || b.id - a.id)[0]!;
    return { id: extra.id, role: "spare", reason: "more stand-bys than wanted" };
  }
  return null;
}
