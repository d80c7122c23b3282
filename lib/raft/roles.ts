/**
 * What each role does on a tick and on a message that passed the term checks of Raft.step:
 * one object per role, swapped as the role changes (etcd-raft's step/tick function pointers).
 * @module
 */
import type { RaftLog } from "./log.ts";
import type { Outgoing } from "./messages.ts";
import type { PeerProgress } from "./progress.ts";
import { voteResult } from "./quorum.ts";
import type { ReadOnly } from "./readonly.ts";
import { answerRead, handleReadIndex, type ReadHost } from "./read_index.ts";
import type { ConfState, Message, NodeId, ReadState, Role, Snapshot } from "./types.ts";

/**
 * What the roles use of a node (raft.ts's Raft has all of it). Declared here so that the roles
 * depend on the node's shape only, and raft.ts can dispatch to them without an import circle.
 */
export interface RoleHost extends ReadHost {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  lead: NodeId;
  readonly log: RaftLog;
  readonly conf: ConfState;
  readonly prs: Map<NodeId, PeerProgress>;
  readonly readOnly: ReadOnly;
  readonly readStates: ReadState[];
  electionElapsed: number;
  heartbeatElapsed: number;
  readonly randomizedElectionTimeout: number;
  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  readonly snapshotTimeout: number;
  readonly checkQuorum: boolean;
  readonly handingOver: boolean;
  leadTransferee: NodeId;
  acked: { term: number; index: number };
  promotable(): boolean;
  send(m: Outgoing): void;
  hup(transfer: boolean): void;
  startElection(): void;
  poll(id: NodeId, granted: boolean): "won" | "lost" | "pending";
  becomeFollower(term: number, lead: NodeId): void;
  becomeLeader(): void;
  restore(s: Snapshot): void;
  maybeCommit(): boolean;
  bcastAppend(): void;
  bcastHeartbeat(ctx?: string): void;
  heartbeatSpares(): void;
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean;
  sendTimeoutNow(to: NodeId): void;
  quorumActive(): boolean;
  handOver(): void;
}

interface RoleBehaviour {
  tick(r: RoleHost): void;
  step(r: RoleHost, m: Message): void;
}

/** Followers and candidates: campaign when no leader was heard within the randomized timeout. */
function tickElection(r: RoleHost): void {
  r.electionElapsed++;
  if (r.promotable() && r.electionElapsed >= r.randomizedElectionTimeout) {
    r.electionElapsed = 0;
    r.hup(false);
  }
}

// ---- follower side of replication ----

function handleAppend(r: RoleHost, m: Extract<Message, { type: "app" }>): void {
  if (m.index < r.log.committed) {
    r.send({ type: "app-resp", to: m.from, index: r.log.committed, reject: false, hint: 0 });
    return;
  }
  const committed = r.log.committed;
  const lastNew = r.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
  if (lastNew !== undefined) {
    // The leader's news of a commit, with no entry, is not answered when this term's leader was
    // already told of this index: an answer would tell it nothing, and each one cost the leader
    // a frame to read for every write (one client's writes: ~15% more with them gone). Had that
    // earlier answer been lost, the leader's next append (after a heartbeat's answer) carries no
    // new commit, and is answered.
    if (
      m.entries.length === 0 && r.log.committed > committed && r.acked.term === r.term &&
      lastNew <= r.acked.index
    ) return;
    r.acked = { term: r.term, index: lastNew };
    r.send({ type: "app-resp", to: m.from, index: lastNew, reject: false, hint: 0 });
    return;
  }
  // Matching yet refused: it would overwrite committed entries. Not from a correct leader.
  if (r.log.matchTerm(m.index, m.logTerm)) return;
  const hint = r.log.findConflictByTerm(Math.min(m.index, r.log.lastIndex()), m.logTerm);
  r.send({ type: "app-resp", to: m.from, index: m.index, reject: true, hint });
}

function handleHeartbeat(r: RoleHost, m: Extract<Message, { type: "heartbeat" }>): void {
  r.log.commitTo(m.commit);
  r.send({ type: "heartbeat-resp", to: m.from, ctx: m.ctx });
}

function handleSnapshot(r: RoleHost, m: Extract<Message, { type: "snap" }>): void {
  const s = m.snapshot;
  if (s.meta.index <= r.log.committed) {
    r.send({ type: "snap-status", to: m.from, index: r.log.committed, reject: false });
    return;
  }
  if (r.log.matchTerm(s.meta.index, s.meta.term)) {
    // Already have the entry the snapshot ends with: just learn that it is committed.
    r.log.commitTo(s.meta.index);
    r.send({ type: "snap-status", to: m.from, index: r.log.committed, reject: false });
    return;
  }
  r.restore(s);
  r.send({ type: "snap-status", to: m.from, index: r.log.lastIndex(), reject: false });
}

const follower: RoleBehaviour = {
  tick: tickElection,
  step(r, m) {
    switch (m.type) {
      case "app":
      case "heartbeat":
      case "snap":
        r.electionElapsed = 0;
        r.lead = m.from;
        if (m.type === "app") handleAppend(r, m);
        else if (m.type === "heartbeat") handleHeartbeat(r, m);
        else handleSnapshot(r, m);
        return;
      case "timeout-now":
        // The leader asks this member to take over now (leadership transfer, thesis §3.10).
        r.hup(true);
        return;
      case "read-index":
        // Asked as if leader; the asker's driver retries with the real one.
        r.send({ type: "read-index-resp", to: m.from, ctx: m.ctx, index: 0, reject: true });
        return;
      case "read-index-resp":
        if (!m.reject) r.readStates.push({ index: m.index, ctx: m.ctx });
        return;
      default:
        return;
    }
  },
};

function stepCandidate(r: RoleHost, m: Message): void {
  const myResp = r.role === "pre-candidate" ? "pre-vote-resp" : "vote-resp";
  switch (m.type) {
    case "app":
    case "heartbeat":
    case "snap":
      // A leader of this term exists: defer to it (§5.2).
      r.becomeFollower(m.term, m.from);
      follower.step(r, m);
      return;
    case "vote-resp":
    case "pre-vote-resp": {
      if (m.type !== myResp) return;
      const res = r.poll(m.from, !m.reject);
      if (res === "won") {
        if (r.role === "pre-candidate") r.startElection();
        else {
          r.becomeLeader();
          r.bcastAppend();
        }
      } else if (res === "lost") {
        r.becomeFollower(r.term, 0);
      }
      return;
    }
    case "read-index":
      r.send({ type: "read-index-resp", to: m.from, ctx: m.ctx, index: 0, reject: true });
      return;
    default:
      return;
  }
}

const candidate: RoleBehaviour = { tick: tickElection, step: stepCandidate };

// ---- leader side: answers to what it sent ----

function handleAppResp(r: RoleHost, m: Extract<Message, { type: "app-resp" }>, pr: PeerProgress): void {
  pr.recentActive = true;
  if (m.reject) {
    if (pr.maybeDecrTo(m.index, m.hint)) {
      if (pr.state === "replicate") pr.becomeProbe();
      r.maybeSendAppend(m.from, true);
    }
    return;
  }
  if (m.index > r.log.lastIndex()) return;
  const oldPaused = pr.isPaused();
  if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === "probe")) return;
  if (pr.state === "probe") {
    pr.becomeReplicate();
  } else if (pr.state === "snapshot" && pr.match + 1 >= r.log.firstIndex()) {
    pr.becomeProbe();
    pr.becomeReplicate();
  } else if (pr.state === "replicate") {
    pr.inflights.freeLE(m.index);
  }
  if (r.maybeCommit()) r.bcastAppend();
  else if (oldPaused) r.maybeSendAppend(m.from, true);
  while (r.maybeSendAppend(m.from, false)) { /* fill the inflight window */ }
  if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) r.sendTimeoutNow(m.from);
}

function handleHeartbeatResp(
  r: RoleHost,
  m: Extract<Message, { type: "heartbeat-resp" }>,
  pr: PeerProgress,
): void {
  pr.recentActive = true;
  pr.probeSent = false;
  // Appends may have been lost: free one slot so that a stuck window moves again.
  if (pr.state === "replicate" && pr.inflights.full()) pr.inflights.freeFirstOne();
  if (pr.match < r.log.lastIndex()) r.maybeSendAppend(m.from, true);
  if (m.ctx === "") return;
  const acks = r.readOnly.recvAck(m.from, m.ctx);
  if (!acks || voteResult(r.conf.voters, acks) !== "won") return;
  for (const read of r.readOnly.advance(m.ctx)) answerRead(r, read.from, read.ctx, read.index);
}

function handleSnapStatus(r: RoleHost, m: Extract<Message, { type: "snap-status" }>, pr: PeerProgress): void {
  pr.recentActive = true;
  if (pr.state !== "snapshot") return;
  if (m.reject) {
    pr.pendingSnapshot = 0;
  } else {
    pr.maybeUpdate(Math.min(m.index, r.log.lastIndex()));
  }
  pr.becomeProbe();
  r.maybeSendAppend(m.from, true);
}

const leader: RoleBehaviour = {
  tick(r) {
    r.heartbeatElapsed++;
    r.electionElapsed++;
    if (r.electionElapsed >= r.electionTimeout) {
      r.electionElapsed = 0;
      if (r.checkQuorum && !r.quorumActive() && !r.handingOver) {
        // Thesis §6.2: a leader cut off from a quorum steps down, so clients go elsewhere.
        r.becomeFollower(r.term, 0);
        return;
      }
      // A transfer that has not finished within an election timeout is abandoned (or, for a
      // leader that is no longer a voter, tried again).
      r.leadTransferee = 0;
      if (r.handingOver) r.handOver();
      r.heartbeatSpares();
    }
    for (const [id, pr] of r.prs) {
      if (pr.state !== "snapshot") continue;
      // The snapshot or its answer was lost: probe again (which sends a fresh snapshot).
      if (++pr.snapshotTicks >= r.snapshotTimeout) {
        pr.becomeProbe();
        r.maybeSendAppend(id, true);
      }
    }
    if (r.heartbeatElapsed >= r.heartbeatTimeout) {
      r.heartbeatElapsed = 0;
      r.bcastHeartbeat();
    }
  },
  step(r, m) {
    const pr = r.prs.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case "app-resp":
        handleAppResp(r, m, pr);
        return;
      case "heartbeat-resp":
        handleHeartbeatResp(r, m, pr);
        return;
      case "snap-status":
        handleSnapStatus(r, m, pr);
        return;
      case "read-index":
        handleReadIndex(r, m.from, m.ctx);
        return;
      default:
        return;
    }
  },
};

export const ROLES: Record<Role, RoleBehaviour> = {
  "follower": follower,
  "pre-candidate": candidate,
  "candidate": candidate,
  "leader": leader,
};
