/**
 * PURE: the decisions of an evacuation (LXD's evacuateClusterMember and checkEvacuationQuorum),
 * from plain data: what becomes of each instance, whether taking a member's vote away keeps a
 * quorum, and which member takes an instance that leaves.
 */
import type { Devices } from "../db/mod.ts";

/** The evacuation modes a request may force (LXD's --action); "" keeps each instance's own. */
export const EVACUATE_MODES = ["", "auto", "stop", "migrate", "live-migrate"] as const;
export type EvacuateMode = (typeof EVACUATE_MODES)[number];

/** What happens to one instance of an evacuated member. */
export type InstanceAction = "stop" | "migrate";

/** The reason a mode is refused, or null (LXD's text). */
export function modeProblem(mode: unknown): string | null {
  if (mode === undefined || mode === null) return null;
  return typeof mode === "string" && (EVACUATE_MODES as readonly string[]).includes(mode)
    ? null
    : `Invalid evacuation mode: ${JSON.stringify(mode)}`;
}

/**
 * A device that ties an instance to its member: a disk from a host path, or a device passed
 * through from the host. LXD's "auto" stops such an instance instead of moving it.
 */
function pinned(devices: Devices): string | null {
  for (const [name, d] of Object.entries(devices)) {
    if (d.type === "disk" && d.path !== "/" && d.source && !d.pool) return name;
    if (["unix-char", "unix-block", "usb", "gpu", "pci", "infiniband"].includes(d.type ?? "")) return name;
  }
  return null;
}

/**
 * What an evacuation does with an instance: the request's mode first, then the instance's
 * `cluster.evacuate` (auto when unset). Live migration of a container needs CRIU, which shoal
 * does not use: `live-migrate` moves it stopped and starts it again, as `migrate` does.
 */
export function instanceAction(
  expanded: { config: Record<string, string>; devices: Devices },
  mode: EvacuateMode,
): InstanceAction {
  const m = mode !== "" ? mode : expanded.config["cluster.evacuate"] ?? "auto";
  if (m === "stop") return "stop";
  if (m === "migrate" || m === "live-migrate") return "migrate";
  return pinned(expanded.devices) === null ? "migrate" : "stop";
}

/** A member as the quorum check sees it. */
export interface QuorumMember {
  name: string;
  role: "voter" | "standby" | "spare" | null;
  online: boolean;
  evacuated: boolean;
}

/**
 * Why evacuating `name` would lose the database's quorum, or null when it keeps it (LXD's
 * checkEvacuationQuorum): once its vote is gone the others must still make a majority, or an
 * online stand-by or spare must be there to take the seat first while a majority is up.
 */
export function quorumProblem(members: QuorumMember[], name: string): string | null {
  const target = members.find((m) => m.name === name);
  if (!target || target.role !== "voter" || !target.online || target.evacuated) return null;
  const voters = members.filter((m) => m.role === "voter");
  const up = voters.filter((m) => m.online && !m.evacuated).length;
  const required = Math.floor((voters.length - 1) / 2) + 1;
  if (up - 1 >= required) return null;
  const replacements =
    members.filter((m) => (m.role === "standby" || m.role === "spare") && m.online && !m.evacuated).length;
  const majorityNow = Math.floor(voters.length / 2) + 1;
  if (up >= majorityNow && up > 1 && replacements > 0) return null;
  return "Insufficient online voters to maintain quorum";
}

/** A member an instance may go to. */
export interface TargetMember {
  name: string;
  online: boolean;
  evacuated: boolean;
  instances: number;
  groups: string[];
}

/**
 * The member a leaving instance goes to (LXD: the least loaded online member that is not
 * evacuated, within the instance's cluster group if it was placed through one); null when none.
 */
export function evacuationTarget(
  members: TargetMember[],
  from: string,
  group: string | null,
): string | null {
  const ok = members.filter((m) =>
    m.name !== from && m.online && !m.evacuated && (group === null || m.groups.includes(group))
  );
  ok.sort((a, b) => a.instances - b.instances);
  return ok[0]?.name ?? null;
}
