/**
 * Cluster wire types: what /1.0/cluster serves and what members send each other. The API,
 * lib/cluster, lib/client and the CLI all take them from here, so there is one copy of each.
 * @module
 */

/** LXD's ClusterMember as GET /1.0/cluster/members/NAME returns it (key order as `lxc cluster show`). */
export interface ClusterMember {
  server_name: string;
  url: string;
  database: boolean;
  status: "Online" | "Offline" | "Evacuated" | "Blocked";
  message: string;
  architecture: string;
  roles: string[];
  failure_domain: string;
  description: string;
  config: Record<string, string>;
  groups: string[];
}

/** LXD's ClusterMemberPut: the writable part of a member. */
export interface ClusterMemberPut {
  roles?: string[] | null;
  failure_domain?: string;
  description?: string;
  config?: Record<string, string> | null;
  groups?: string[] | null;
}

/** One member-specific key a joiner answers (LXD's ClusterMemberConfigKey). */
export interface MemberConfigKey {
  entity: "storage-pool" | "network";
  name: string;
  key: string;
  value: string;
  description: string;
}

/** GET /1.0/cluster (LXD's api.Cluster; named apart from lib/cluster's Cluster). */
export interface ClusterInfo {
  server_name: string;
  enabled: boolean;
  /** What a joiner must answer for this cluster's pools and networks. */
  member_config: MemberConfigKey[];
}

/** A cluster group (LXD's api.ClusterGroup). */
export interface ClusterGroup {
  name: string;
  description: string;
  members: string[];
}

/** PUT /1.0/cluster's body (LXD's ClusterPut). */
export interface ClusterPut {
  server_name?: string;
  enabled?: boolean;
  cluster_address?: string;
  cluster_certificate?: string;
  server_address?: string;
  cluster_token?: string;
  cluster_password?: string;
  member_config?: { entity: string; name: string; key: string; value: string }[];
}

/** A Raft member as members record it in `raft_nodes` and a leader names it to a joiner. */
export interface RaftNode {
  id: number;
  address: string;
  /** 0 voter, 1 stand-by, 2 spare (LXD's raft_nodes.role values). */
  role: number;
  name: string;
}

/** A joiner, as the leader checks and records it (POST /internal/cluster/accept). */
export interface JoinRequest {
  name: string;
  address: string;
  arch: string;
  schema: number;
  apiExtensions: number;
  version: string;
  /** The joiner's own storage pools, which must match the cluster's. */
  pools?: { name: string; driver: string }[];
  /** Its answers to the member-specific keys (GET /1.0/cluster's member_config). */
  memberConfig?: MemberConfigKey[];
  /**
   * The secret the joiner was trusted with (its encoded join token, or the trust password): the
   * member it trusted itself on accepts it only with that secret, once, for that name.
   */
  secret?: string;
}

/** What the leader answers a joiner it accepted. */
export interface AcceptReply {
  raftId: number;
  raftNodes: RaftNode[];
  clusterCert: string;
  clusterKey: string;
  /**
   * The members' own certificates (fingerprints), so that the joiner knows them before its copy
   * of the database has them: the leader's Raft stream and heartbeats reach it at once.
   */
  members: { name: string; fingerprint: string }[];
}

/** One member's line in a heartbeat: how long the leader has not heard from it. */
export interface HeartbeatMember {
  name: string;
  address: string;
  silentMs: number;
  lastSeen: string;
  /** It announced a graceful stop: offline whatever its silence. */
  stopped: boolean;
}

/**
 * What the leader sends each member every heartbeat (PUT /internal/heartbeat): only the members
 * it has not heard from lately. Everyone else answered within the last heartbeat or two, so the
 * list stays a few lines long however large the cluster (every member knows the members from
 * the database), instead of growing with the square of the member count on the wire.
 */
export interface Heartbeat {
  leader: string;
  term: number;
  silent: HeartbeatMember[];
  /**
   * Members that answer but say they cannot serve (a full disk), with why: every member's
   * `cluster list` shows it as their MESSAGE. Absent from an older leader: no problems known.
   */
  problems?: { address: string; message: string }[];
  /**
   * The fence time (seconds) each member said it applies, by address (0: not fencing): every
   * member keeps the last map, so whichever becomes leader knows who may be healed (fence.ts).
   */
  fences?: Record<string, number>;
  /**
   * The Raft members and their roles as the leader applied them, at its applied index `applied`
   * (LXD's heartbeat carries them too): a spare has no database to learn them from, and learns
   * from its own role that it holds no copy. Absent from an older leader.
   */
  raft?: RaftNode[];
  applied?: number;
}

/** A member's answer to a heartbeat: why it cannot serve now, if so (absent from older members). */
export interface HeartbeatReply {
  problem?: string | null;
  /** The fence time (seconds) this member applies now; 0 or absent: it does not fence. */
  fence?: number;
}

/**
 * A forwarded transaction's place in its member's client session (Raft thesis §6.3): the session,
 * the transaction's number in it, and the lowest number the member still waits on. With it, the
 * leader applies the transaction once however often it arrives.
 */
export interface ForwardedSession {
  id: string;
  seq: number;
  low: number;
}

/** One transaction as a member forwards it to the leader: a registered name and its arguments. */
export interface ForwardedTx {
  name: string;
  args: unknown;
  session?: ForwardedSession;
}

/** The leader's answer for one forwarded transaction. */
export type ForwardedResult =
  | { ok: true; result: unknown; index: number }
  | { ok: false; status: number; error: string };

/**
 * A member's own part of a cluster-wide pool or network change, asked by the member that runs
 * the change (PUT /internal/storage-pools/NAME, /internal/networks/NAME): `create` makes it
 * real on that member with the config given (global keys merged with the member's own),
 * `update` applies a new config to what runs (networks), `delete` undoes it. The reply carries the member's own keys as its part resolved them.
 */
export interface MemberPart {
  name: string;
  action: "create" | "update" | "delete";
  /** The pool's driver (pools only). */
  driver?: string;
  config: Record<string, string>;
}

/** One problem `cluster doctor` found: what, why, and the commands that fix it, in order. */
export interface Problem {
  kind:
    | "quorum-lost"
    | "member-unreachable"
    | "leftover-raft-member"
    | "address-changed"
    | "upgrade-blocked"
    | "one-way-offline"
    | "clock-skew"
    | "certificate-expiring";
  summary: string;
  cause: string;
  fix: string[];
}

/** The doctor's answer (GET /internal/cluster/doctor, printed by `shoal cluster doctor`). */
export interface DoctorReport {
  healthy: boolean;
  /** One line about the cluster (what a healthy cluster prints). */
  summary: string;
  members: { name: string; address: string; reachable: boolean; error?: string }[];
  problems: Problem[];
}
