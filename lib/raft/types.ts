/**
 * The shapes of shoal's Raft core: entries, persistent state, configuration, snapshots, the
 * messages members exchange (a discriminated union on `type`), the storage the core reads and
 * the Ready batch it hands out. Pure data: no I/O anywhere in lib/raft.
 * @module
 */

/** Raft ids are positive integers; 0 means "none" (no leader known, no vote cast). */
export type NodeId = number;

/** A log entry. `conf` entries carry a JSON-encoded ConfChange; `normal` ones opaque data. */
export interface Entry {
  index: number;
  term: number;
  type: "normal" | "conf";
  /** "" for the empty entry a new leader appends. */
  data: string;
}

/** What must be durable before any message that depends on it leaves (votes, acks). */
export interface HardState {
  term: number;
  /** Whom this member voted for in `term`; 0 for nobody. */
  vote: NodeId;
  commit: number;
}

/**
 * The configuration. Voters count for elections and commitment; stand-bys (Raft's learners)
 * receive the log but do not vote; spares (dqlite's) receive neither log nor snapshot, only a
 * heartbeat once an election timeout that tells them the leader. A spare promoted starts from
 * nothing, as a joiner does: probed, then a snapshot and the log.
 * An id appears in at most one list.
 */
export interface ConfState {
  voters: NodeId[];
  standbys: NodeId[];
  spares: NodeId[];
}

/** A single-server membership change. `add-*` on an existing member changes its role. */
export type ConfChange =
  | { type: "add-voter"; id: NodeId }
  | { type: "add-standby"; id: NodeId }
  | { type: "add-spare"; id: NodeId }
  | { type: "remove"; id: NodeId };

export interface SnapshotMeta {
  /** Last index the snapshot covers, and its term. */
  index: number;
  term: number;
  /** The configuration as of `index`. */
  conf: ConfState;
}

/** A snapshot: metadata and the state machine's bytes (opaque to the core). */
export interface Snapshot {
  meta: SnapshotMeta;
  data: Uint8Array;
}

/** Every message carries these. */
interface Base {
  from: NodeId;
  to: NodeId;
  term: number;
}

/**
 * Messages between members. Local-only inputs (tick, propose, campaign) are methods of
 * RawNode, not messages, so that nothing here can be forged by a peer into a local action.
 */
export type Message =
  /** Leader → follower: entries after (index, logTerm), and the leader's commit index. */
  | Base & { type: "app"; index: number; logTerm: number; entries: Entry[]; commit: number }
  /** Follower → leader. On reject, `index` is the probed index and `hint` the follower's last index
   *  (or a better guess) so that the leader can back up quickly. */
  | Base & { type: "app-resp"; index: number; reject: boolean; hint: number }
  /** Leader → follower; `ctx` ties it to a read-index round ("" when none). */
  | Base & { type: "heartbeat"; commit: number; ctx: string }
  | Base & { type: "heartbeat-resp"; ctx: string }
  /** Candidate → voter. `term` of a pre-vote is the term the candidate would campaign in. */
  | Base & { type: "vote" | "pre-vote"; index: number; logTerm: number; transfer: boolean }
  | Base & { type: "vote-resp" | "pre-vote-resp"; reject: boolean }
  /** Leader → follower whose next entry is compacted away. */
  | Base & { type: "snap"; snapshot: Snapshot }
  /** Follower → leader after it installed (or failed to install) a snapshot. */
  | Base & { type: "snap-status"; index: number; reject: boolean }
  /** Leader → transferee: campaign now, without waiting for an election timeout. */
  | Base & { type: "timeout-now" }
  /** Follower → leader: confirm leadership for a linearizable read tagged `ctx`. */
  | Base & { type: "read-index"; ctx: string }
  /** Leader → follower: the commit index at which the read `ctx` may be served. */
  | Base & { type: "read-index-resp"; ctx: string; index: number; reject: boolean };

export type MessageType = Message["type"];

/** Thrown by Storage for an index at or below the snapshot (compacted). Recognised by `name`. */
export class CompactedError extends Error {
  constructor(index: number, first: number) {
    super(`Raft log index ${index} is compacted (first available is ${first})`);
    this.name = "CompactedError";
  }
}

/** Thrown by Storage for an index past the last entry. Recognised by `name`. */
export class UnavailableError extends Error {
  constructor(index: number, last: number) {
    super(`Raft log index ${index} is unavailable (last is ${last})`);
    this.name = "UnavailableError";
  }
}

/**
 * What the core reads of durable state; synchronous. Entries are [firstIndex, lastIndex];
 * index firstIndex-1 is the snapshot's, whose term `term()` must still answer.
 * Errors are recognised by `name` ("CompactedError", "UnavailableError"), so any storage can
 * throw its own classes.
 */
export interface Storage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries [lo, hi), at least one when lo < hi, then stopping before maxBytes of data. */
  entries(lo: number, hi: number, maxBytes?: number): Entry[];
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

export type Role = "follower" | "pre-candidate" | "candidate" | "leader";

export interface SoftState {
  lead: NodeId;
  role: Role;
}

/** A linearizable read: state applied up to `index` may answer the read tagged `ctx`. */
export interface ReadState {
  index: number;
  ctx: string;
}

/**
 * One batch of work for the driver. The order is the contract:
 * 1. persist `hardState`, `entries` (which replace any conflicting suffix) and `snapshot`
 *    durably, in one synced write;
 * 2. only then send `messages` (votes and acks in them promise what step 1 made durable);
 * 3. apply `snapshot` (if any) then `committedEntries` in order to the state machine;
 * 4. hand `readStates` to readers once the state machine has applied their index;
 * 5. call `advance(ready)`.
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
  messages: Message[];
  committedEntries: Entry[];
  readStates: ReadState[];
}

/** Why a proposal was not accepted. The driver turns these into clear errors for callers. */
export type ProposeResult =
  | { ok: true; index: number; term: number }
  | { ok: false; reason: "not-leader"; leader: NodeId }
  | { ok: false; reason: "transferring"; leader: NodeId }
  | { ok: false; reason: "conf-change-pending" | "not-a-member" | "invalid"; leader: NodeId };

/** Replication state of one peer as the leader tracks it. */
export interface Progress {
  match: number;
  next: number;
  state: "probe" | "replicate" | "snapshot";
  recentActive: boolean;
}

export interface Status {
  id: NodeId;
  term: number;
  vote: NodeId;
  lead: NodeId;
  role: Role;
  commit: number;
  applied: number;
  /** Present on the leader only. */
  progress?: Record<NodeId, Progress>;
}

/**
 * Deliberately broken behaviours, so that the simulator can prove it catches each. Each is a
 * plain boolean read at the one place it changes: off costs one property read.
 */
export interface Bugs {
  /** Commit an older-term entry by counting replicas (the paper's Figure 8). */
  figure8?: boolean;
  /** Grant votes without checking that the candidate's log is up to date. */
  voteWithoutLogCheck?: boolean;
  /** Reply to a vote before the vote is durable (the vote is not in hardState). */
  voteNotPersisted?: boolean;
  /** Hand out entries as committed before a quorum has them. */
  applyBeforeCommit?: boolean;
  /** Serve a read index without confirming leadership with a quorum. */
  staleRead?: boolean;
}

export const BUG_NAMES = {
  "figure8": "figure8",
  "vote-without-log-check": "voteWithoutLogCheck",
  "vote-not-persisted": "voteNotPersisted",
  "apply-before-commit": "applyBeforeCommit",
  "stale-read": "staleRead",
} as const satisfies Record<string, keyof Bugs>;

export interface Config {
  id: NodeId;
  storage: Storage;
  /** Ticks without hearing from a leader before campaigning; the actual timeout is drawn
   *  uniformly from [electionTick, 2*electionTick) with `rng`. */
  electionTick: number;
  heartbeatTick: number;
  /** The only randomness the core uses: uniform in [0, 1). */
  rng: () => number;
  /** Last index the state machine has applied (entries up to it are not handed out again). */
  applied?: number;
  checkQuorum?: boolean;
  preVote?: boolean;
  /** Bytes of entry data per append message. */
  maxSizePerMsg?: number;
  /** Append messages in flight to one peer in replicate state. */
  maxInflightMsgs?: number;
  /** Bytes of entry data in flight to one peer. */
  maxInflightBytes?: number;
  /** Ticks a peer may stay in snapshot state without answering before the leader retries
   *  (default 3 * electionTick). The driver may also call reportUnreachable to retry sooner. */
  snapshotTimeoutTick?: number;
  bugs?: Bugs;
}
