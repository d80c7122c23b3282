/**
 * What each role does on a tick and on a message that passed the term checks of Raft.step:
 * one object per role, swapped as the role changes (etcd-raft's step/tick function pointers).
 * @module
 */
import type { Message, Role } from "./types.ts";
import type { Raft } from "./raft.ts";

interface RoleBehaviour {
  tick(r: Raft): void;
  step(r: Raft, m: Message): void;
}

/** Followers and candidates: campaign when no leader was heard within the randomized timeout. */
function tickElection(r: Raft): void {
  r.electionElapsed++;
  if (r.promotable() && r.electionElapsed >= r.randomizedElectionTimeout) {
    r.electionElapsed = 0;
    r.hup(false);
  }
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
        if (m.type === "app") r.handleAppend(m);
        else if (m.type === "heartbeat") r.handleHeartbeat(m);
        else r.handleSnapshot(m);
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

function stepCandidate(r: Raft, m: Message): void {
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
        r.handleAppResp(m, pr);
        return;
      case "heartbeat-resp":
        r.handleHeartbeatResp(m, pr);
        return;
      case "snap-status":
        r.handleSnapStatus(m, pr);
        return;
      case "read-index":
        r.handleReadIndex(m.from, m.ctx);
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
