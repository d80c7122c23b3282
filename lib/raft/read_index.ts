/**
 * Linearizable reads by read index (Raft thesis §6.4): a leader records its commit index for a
 * read, confirms it still leads with a heartbeat round, then answers; a follower asks its leader.
 * @module
 */
import type { Outgoing } from "./messages.ts";
import { voteResult } from "./quorum.ts";
import type { ReadOnly } from "./readonly.ts";
import type { Bugs, ConfState, NodeId, ReadState, Role } from "./types.ts";
import type { RaftLog } from "./log.ts";

/** What reads use of a node (raft.ts's Raft has all of it). */
export interface ReadHost {
  readonly id: NodeId;
  readonly role: Role;
  lead: NodeId;
  readonly log: RaftLog;
  readonly conf: ConfState;
  readonly readOnly: ReadOnly;
  readonly readStates: ReadState[];
  /** Reads asked before this leader committed an entry of its term: confirmed once it has. */
  readonly pendingReadIndex: { from: NodeId; ctx: string }[];
  readonly bugs: Bugs;
  committedEntryInCurrentTerm(): boolean;
  send(m: Outgoing): void;
  bcastHeartbeat(ctx?: string): void;
}

/** A read asked of this leader by `from` (itself or a follower). */
export function handleReadIndex(r: ReadHost, from: NodeId, ctx: string): void {
  if (r.bugs.staleRead) {
    answerRead(r, from, ctx, r.log.committed);
    return;
  }
  // Until it commits an entry of its term, a leader does not know the latest commit index.
  if (!r.committedEntryInCurrentTerm()) {
    r.pendingReadIndex.push({ from, ctx });
    return;
  }
  confirmRead(r, from, ctx);
}

/** Confirms leadership with a heartbeat round before answering (a lone voter answers at once). */
export function confirmRead(r: ReadHost, from: NodeId, ctx: string): void {
  if (voteResult(r.conf.voters, new Map([[r.id, true]])) === "won") {
    answerRead(r, from, ctx, r.log.committed);
    return;
  }
  if (!r.readOnly.add(r.log.committed, ctx, from)) return;
  r.readOnly.recvAck(r.id, ctx);
  r.bcastHeartbeat(ctx);
}

export function answerRead(r: ReadHost, from: NodeId, ctx: string, index: number): void {
  if (from === r.id) r.readStates.push({ index, ctx });
  else r.send({ type: "read-index-resp", to: from, ctx, index, reject: false });
}

/** A read asked of this node: a leader handles it, a follower forwards it to its leader. */
export function readIndex(r: ReadHost, ctx: string): void {
  if (r.role === "leader") handleReadIndex(r, r.id, ctx);
  else if (r.lead !== 0) r.send({ type: "read-index", to: r.lead, ctx });
}
