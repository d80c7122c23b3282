import type { ConfState } from "../raft/mod.ts";
import type { RaftNode } from "../db/mod.ts";

/** One member's own view, as GET /internal/cluster/state answers it. */
export interface MemberState {
  name: string;
  address: string;
  /** The member's clock (ms since the epoch) when it answered. */
  time: number;
  version: string;
  schema: number;
  api: number;
  /** Why it waits for an upgrade, or null. */
  blocked: string | null;
  raft: { id: number; leader: number; term: number; commit: number; applied: number; conf: ConfState };
  raftNodes: RaftNode[];
  /** Its copy of the members. */
  nodes: { id: number; name: string; address: string; schema: number; api_extensions: number }[];
  /** Who is online as it sees it (the leader's heartbeats), by address. */
  online: Record<string, boolean>;
  /** notAfter (ISO 8601) of the cluster certificate and of its own certificate. */
  clusterCertExpires: string | null;
  serverCertExpires: string | null;
}
