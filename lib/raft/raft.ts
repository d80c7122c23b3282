/**
 * The Raft algorithm's state and transitions (Ongaro & Ousterhout, "In Search of an
 * Understandable Consensus Algorithm", with the thesis' pre-vote, check-quorum, leadership
 * transfer and read index). Role-specific handling lives in roles.ts as one object per role
 * (a follower's handling of appends, heartbeats and snapshots, a leader's of their answers);
 * this file holds the state, the role changes, what every role does on a message, and the
 * leader's sending side of replication. No I/O: messages go to `msgs`, durable state is read
 * back by RawNode into a Ready.
 * @module
 */
import type {
  Bugs,
  ConfChange,
  Config,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  ProposeResult,
  ReadState,
  Role,
  Snapshot,
  SoftState,
} from "./types.ts";
import { RaftLog } from "./log.ts";
import { PeerProgress } from "./progress.ts";
import { committedIndex, voteResult } from "./quorum.ts";
import { ReadOnly } from "./readonly.ts";
import { confirmRead, readIndex } from "./read_index.ts";
import { applyToConf, checkConfChange, cloneConf } from "./confchange.ts";
import { isValidMessage, type Outgoing } from "./messages.ts";
import { ROLES } from "./roles.ts";
import { entriesSize, isCompacted, isUnavailable } from "./util.ts";

export const NONE: NodeId = 0;

type CampaignKind = "pre-election" | "election" | "transfer";

export class Raft {
  readonly id: NodeId;
  term = 0;
  /** Whom this member voted for in `term` (NONE for nobody). */
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: Role = "follower";
  readonly log: RaftLog;
  conf: ConfState;
  /** Replication progress of every member, the leader's own included; leader only. */
  prs = new Map<NodeId, PeerProgress>();
  votes = new Map<NodeId, boolean>();
  msgs: Message[] = [];
  readStates: ReadState[] = [];

  /** Ticks since the last election timeout reset (a leader's contact, a granted vote, a new term). */
  electionElapsed = 0;
  heartbeatElapsed = 0;
  /** Drawn from [electionTimeout, 2*electionTimeout) at every reset. */
  randomizedElectionTimeout = 0;
  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  readonly snapshotTimeout: number;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly maxMsgSize: number;
  readonly maxInflightMsgs: number;
  readonly maxInflightBytes: number;
  readonly bugs: Bugs;
  private readonly rng: () => number;

  /** A follower's last acknowledgement of appended entries: the term and index it answered. */
  acked = { term: 0, index: 0 };
  /** The member a leadership transfer is handing over to (NONE when none). */
  leadTransferee: NodeId = NONE;
  /** A leader that is no longer a voter keeps leading only to hand over to a caught-up voter. */
  handingOver = false;
  /** The voter the last hand-over went to. */
  private lastHandOver: NodeId = NONE;
  /** Asked to take over (timeout-now) while a committed conf change was still unapplied. */
  transferCampaignPending = false;
  /** Index of the last conf change appended by this leader; another waits until it is applied. */
  pendingConfIndex = 0;
  readOnly = new ReadOnly();
  /** Reads that arrived before this leader committed an entry of its own term. */
  pendingReadIndex: { from: NodeId; ctx: string }[] = [];

  constructor(c: Config) {
    if (!Number.isSafeInteger(c.id) || c.id <= 0) {
      throw new Error(`raft: id ${c.id} must be a positive integer`);
    }
    if (!(c.heartbeatTick > 0)) throw new Error("raft: heartbeatTick must be greater than 0");
    if (!(c.electionTick > c.heartbeatTick)) {
      throw new Error("raft: electionTick must be greater than heartbeatTick");
    }
    this.id = c.id;
    this.electionTimeout = c.electionTick;
    this.heartbeatTimeout = c.heartbeatTick;
    this.snapshotTimeout = c.snapshotTimeoutTick ?? 3 * c.electionTick;
    this.checkQuorum = c.checkQuorum ?? false;
    this.preVote = c.preVote ?? false;
    this.maxMsgSize = c.maxSizePerMsg ?? 1024 * 1024;
    this.maxInflightMsgs = c.maxInflightMsgs ?? 256;
    this.maxInflightBytes = c.maxInflightBytes ?? Infinity;
    this.bugs = { ...c.bugs };
    this.rng = c.rng;
    this.log = new RaftLog(c.storage, c.applied, this.bugs);
    const { hardState, confState } = c.storage.initialState();
    this.conf = cloneConf(confState);
    this.becomeFollower(hardState.term, NONE);
    this.vote = hardState.vote;
  }

  // ---- small queries ----

  /** Only voters campaign: stand-bys, spares and members not (yet) in the configuration never do. */
  promotable(): boolean {
    return this.conf.voters.includes(this.id);
  }

  softState(): SoftState {
    return { lead: this.lead, role: this.role };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  committedEntryInCurrentTerm(): boolean {
    return this.log.termOrZero(this.log.committed) === this.term;
  }

  private hasUnappliedConfChanges(): boolean {
    const lo = this.log.applied + 1, hi = this.log.committed + 1;
    if (lo >= hi) return false;
    return this.log.slice(Math.max(lo, this.log.firstIndex()), hi).some((e) => e.type === "conf");
  }

  send(m: Outgoing): void {
    this.msgs.push({ ...m, from: this.id, term: m.term ?? this.term } as Message);
  }

  // ---- role changes ----

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    const r = this.rng();
    const u = r >= 0 && r < 1 ? r : 0;
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(u * this.electionTimeout);
    this.leadTransferee = NONE;
    this.handingOver = false;
    this.transferCampaignPending = false;
    this.votes = new Map();
    this.prs = new Map();
    this.pendingConfIndex = 0;
    this.readOnly = new ReadOnly();
    this.pendingReadIndex = [];
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = "follower";
  }

  becomePreCandidate(): void {
    if (this.role === "leader") throw new Error("raft: invalid transition [leader -> pre-candidate]");
    // Pre-vote changes neither term nor vote: a member that cannot win disturbs nobody.
    this.votes = new Map();
    this.lead = NONE;
    this.role = "pre-candidate";
  }

  becomeCandidate(): void {
    if (this.role === "leader") throw new Error("raft: invalid transition [leader -> candidate]");
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = "candidate";
  }

  becomeLeader(): void {
    if (this.role === "follower") throw new Error("raft: invalid transition [follower -> leader]");
    this.reset(this.term);
    this.lead = this.id;
    this.role = "leader";
    this.syncProgress();
    this.prs.get(this.id)?.becomeReplicate();
    // Entries of earlier terms in the log may hide a conf change: none until they are applied.
    this.pendingConfIndex = this.log.lastIndex();
    // The empty entry lets this leader commit, and so learn the commit index (§8).
    this.appendEntries([{ index: 0, term: 0, type: "normal", data: "" }]);
  }

  /**
   * Progress for every member, keeping what is known. Spares have a progress too (it tracks
   * their heartbeats), but are sent neither entries nor snapshots: see maybeSendAppend().
   */
  private syncProgress(): void {
    const members = new Set([...this.conf.voters, ...this.conf.standbys, ...this.conf.spares]);
    for (const id of [...this.prs.keys()]) if (!members.has(id)) this.prs.delete(id);
    for (const id of members) {
      if (this.prs.has(id)) continue;
      const pr = new PeerProgress(this.log.lastIndex() + 1, this.maxInflightMsgs, this.maxInflightBytes);
      if (id === this.id) pr.match = this.log.lastIndex();
      this.prs.set(id, pr);
    }
  }

  // ---- elections ----

  /** Starts an election if this member may: a voter, not leader, no conf change left to apply. */
  hup(transfer: boolean): void {
    if (this.role === "leader" || !this.promotable()) return;
    if (this.hasUnappliedConfChanges()) {
      // Counting votes by an outdated configuration could be unsafe; a transfer resumes once
      // the change is applied (see applied()).
      if (transfer) this.transferCampaignPending = true;
      return;
    }
    this.campaign(transfer ? "transfer" : this.preVote ? "pre-election" : "election");
  }

  /** After winning the pre-vote: the real election. */
  startElection(): void {
    this.campaign("election");
  }

  private campaign(kind: CampaignKind): void {
    let type: "vote" | "pre-vote", term: number;
    if (kind === "pre-election") {
      this.becomePreCandidate();
      type = "pre-vote";
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      type = "vote";
      term = this.term;
    }
    if (this.poll(this.id, true) === "won") {
      if (kind === "pre-election") this.campaign("election");
      else this.becomeLeader();
      return;
    }
    const index = this.log.lastIndex(), logTerm = this.log.lastTerm();
    for (const to of this.conf.voters) {
      if (to !== this.id) this.send({ type, to, term, index, logTerm, transfer: kind === "transfer" });
    }
  }

  poll(id: NodeId, granted: boolean): "won" | "lost" | "pending" {
    if (!this.votes.has(id)) this.votes.set(id, granted);
    return voteResult(this.conf.voters, this.votes);
  }

  // ---- the entry point for messages from peers ----

  step(m: Message): void {
    if (!isValidMessage(m, this.id)) return;
    if (m.term > this.term) {
      if (m.type === "vote" || m.type === "pre-vote") {
        // Thesis §4.2.3: while a leader is heard from, a vote request is a disruption, not news.
        const inLease = this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout;
        if (inLease && !m.transfer) return;
      }
      if (m.type === "pre-vote" || (m.type === "pre-vote-resp" && !m.reject)) {
        // A pre-vote does not change terms; granted pre-votes are counted at the candidate's term.
      } else if (m.type === "app" || m.type === "heartbeat" || m.type === "snap") {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === "heartbeat" || m.type === "app")) {
        // A stale leader learns the new term from this and steps down; without it, a member that
        // raised its term while cut off could never be reached again under pre-vote.
        this.send({ type: "app-resp", to: m.from, index: 0, reject: false, hint: 0 });
      } else if (m.type === "pre-vote") {
        this.send({ type: "pre-vote-resp", to: m.from, reject: true });
      }
      return;
    }
    if (m.type === "vote" || m.type === "pre-vote") {
      this.handleVote(m);
      return;
    }
    ROLES[this.role].step(this, m);
  }

  private handleVote(m: Extract<Message, { type: "vote" | "pre-vote" }>): void {
    const respType = m.type === "vote" ? "vote-resp" : "pre-vote-resp";
    const canVote = this.vote === m.from || (this.vote === NONE && this.lead === NONE) ||
      (m.type === "pre-vote" && m.term > this.term);
    const upToDate = this.bugs.voteWithoutLogCheck || this.log.isUpToDate(m.index, m.logTerm);
    if (canVote && upToDate) {
      // A pre-vote answer carries the candidate's future term so it counts there.
      this.send({ type: respType, to: m.from, term: m.term, reject: false });
      if (m.type === "vote") {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, reject: true });
    }
  }

  /** The driver applied entries (RawNode.advance). */
  applied(): void {
    if (this.transferCampaignPending && this.role !== "leader" && !this.hasUnappliedConfChanges()) {
      this.transferCampaignPending = false;
      this.hup(true);
    }
  }

  tick(): void {
    ROLES[this.role].tick(this);
  }

  /** Takes a snapshot from the leader as this member's state (the follower's snap handling). */
  restore(s: Snapshot): void {
    this.log.restore(s);
    this.conf = cloneConf(s.meta.conf);
  }

  // ---- leader side of replication ----

  /** Appends entries to the leader's own log, stamping index and term. */
  appendEntries(ents: Entry[]): void {
    let li = this.log.lastIndex();
    for (const e of ents) {
      e.index = ++li;
      e.term = this.term;
    }
    this.log.append(ents);
    this.prs.get(this.id)?.maybeUpdate(this.log.lastIndex());
    this.maybeCommit();
  }

  /**
   * Advances the commit index to what a quorum of voters has, but only on an entry of this
   * leader's term: counting replicas of an older term's entry is unsafe (§5.4.2, Figure 8).
   */
  maybeCommit(): boolean {
    const mci = committedIndex(this.conf.voters, (id) => this.prs.get(id)?.match ?? 0);
    if (mci <= this.log.committed) return false;
    if (!(this.bugs.figure8 || this.log.termOrZero(mci) === this.term)) return false;
    this.log.commitTo(mci);
    if (this.pendingReadIndex.length > 0 && this.committedEntryInCurrentTerm()) {
      const reads = this.pendingReadIndex;
      this.pendingReadIndex = [];
      for (const r of reads) confirmRead(this, r.from, r.ctx);
    }
    return true;
  }

  bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.maybeSendAppend(id, true);
  }

  /**
   * Heartbeats voters and stand-bys (a heartbeat's answer is also what makes the leader send a
   * member behind the log). Spares get theirs from heartbeatSpares(), less often: they hold no
   * log, take no part in reads' quorum nor in elections, and most members of a big cluster are
   * spares, so heartbeating them at the voters' pace would be most of an idle leader's work.
   */
  bcastHeartbeat(ctx = this.readOnly.lastPendingCtx()): void {
    for (const [id, pr] of this.prs) {
      if (id === this.id || this.conf.spares.includes(id)) continue;
      // Never ahead of what the peer is known to have: its log beyond match may differ.
      this.send({ type: "heartbeat", to: id, commit: Math.min(pr.match, this.log.committed), ctx });
    }
  }

  /**
   * Heartbeats the spares (once an election timeout): they learn the leader and its term, which
   * is all they keep (as dqlite's spares, they replicate nothing and read through the leader).
   * Commit 0: whatever log a spare may still have from before it was one is not the leader's.
   */
  heartbeatSpares(): void {
    for (const id of this.conf.spares) {
      if (id === this.id || !this.prs.has(id)) continue;
      this.send({ type: "heartbeat", to: id, commit: 0, ctx: "" });
    }
  }

  /**
   * Sends `to` the entries it needs (or a snapshot); false when nothing was sent. A spare is sent
   * nothing: it holds no replica; once promoted it starts from a fresh progress (applyConfChange).
   */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (!pr || pr.isPaused() || this.conf.spares.includes(to)) return false;
    const index = pr.next - 1;
    let logTerm: number, entries: Entry[];
    try {
      logTerm = this.log.term(index);
      entries = this.log.entries(pr.next, this.maxMsgSize);
    } catch (err) {
      if (isCompacted(err)) return this.sendSnapshot(to, pr);
      if (isUnavailable(err)) return false;
      throw err;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: "app", to, index, logTerm, entries, commit: this.log.committed });
    pr.sentEntries(entries.length, entriesSize(entries));
    return true;
  }

  private sendSnapshot(to: NodeId, pr: PeerProgress): boolean {
    let snapshot: Snapshot;
    try {
      snapshot = this.log.snapshot();
    } catch {
      // The driver may have none ready yet; the next heartbeat answer retries.
      return false;
    }
    if (snapshot.meta.index === 0) return false;
    pr.becomeSnapshot(snapshot.meta.index);
    this.send({ type: "snap", to, snapshot });
    return true;
  }

  /** Check-quorum: a quorum of voters was heard from since the last round. Resets the marks. */
  quorumActive(): boolean {
    const acks = new Map<NodeId, boolean>();
    for (const [id, pr] of this.prs) {
      if (id === this.id || pr.recentActive) acks.set(id, true);
      if (id !== this.id) pr.recentActive = false;
    }
    return voteResult(this.conf.voters, acks) === "won";
  }

  /** A linearizable read (read_index.ts); its answer comes back as a ReadState. */
  readIndex(ctx: string): void {
    readIndex(this, ctx);
  }

  // ---- proposals, membership, transfer ----

  private refusal(): ProposeResult | undefined {
    if (this.role !== "leader") return { ok: false, reason: "not-leader", leader: this.lead };
    if (this.leadTransferee !== NONE || this.handingOver) {
      return { ok: false, reason: "transferring", leader: this.id };
    }
    return undefined;
  }

  propose(data: string): ProposeResult {
    const refused = this.refusal();
    if (refused) return refused;
    if (typeof data !== "string") return { ok: false, reason: "invalid", leader: this.id };
    const e: Entry = { index: 0, term: 0, type: "normal", data };
    this.appendEntries([e]);
    this.bcastAppend();
    return { ok: true, index: e.index, term: e.term };
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    const refused = this.refusal();
    if (refused) return refused;
    if (this.pendingConfIndex > this.log.applied) {
      return { ok: false, reason: "conf-change-pending", leader: this.id };
    }
    if (checkConfChange(this.conf, cc) !== undefined) {
      return { ok: false, reason: "invalid", leader: this.id };
    }
    const e: Entry = { index: 0, term: 0, type: "conf", data: JSON.stringify({ type: cc.type, id: cc.id }) };
    this.appendEntries([e]);
    this.pendingConfIndex = e.index;
    this.bcastAppend();
    return { ok: true, index: e.index, term: e.term };
  }

  applyConfChange(cc: ConfChange): ConfState {
    if (checkConfChange(this.conf, cc) !== undefined) return cloneConf(this.conf);
    const wasSpare = this.conf.spares.includes(cc.id);
    this.conf = applyToConf(this.conf, cc);
    if (this.role === "candidate" || this.role === "pre-candidate") {
      // No longer a voter: it must not win an election it started as one.
      if (!this.promotable()) this.becomeFollower(this.term, NONE);
      return cloneConf(this.conf);
    }
    if (this.role !== "leader") return cloneConf(this.conf);
    // A spare promoted has no log (or one from before it was a spare, dropped since): what its
    // progress said is void. It starts as a joiner does, probed, then sent a snapshot and the
    // log; the role rebalance counts it caught up only once it has acknowledged them.
    if (wasSpare && !this.conf.spares.includes(cc.id)) this.prs.delete(cc.id);
    const known = new Set(this.prs.keys());
    this.syncProgress();
    if (this.leadTransferee !== NONE && !this.conf.voters.includes(this.leadTransferee)) {
      this.leadTransferee = NONE;
    }
    if (!this.promotable() && !this.handingOver) {
      // A leader removed or demoted steps down, but not at once: the voters may not know yet
      // that the change committed, and may need this member's vote, which it would refuse to
      // anyone with a shorter log. So it first brings a voter fully up to date and hands over.
      this.handingOver = true;
      this.handOver();
    }
    // The quorum may have shrunk (commit now) or grown (new members need the log).
    if (this.maybeCommit()) this.bcastAppend();
    else for (const id of this.prs.keys()) if (id !== this.id) this.maybeSendAppend(id, !known.has(id));
    return cloneConf(this.conf);
  }

  transferLeader(to: NodeId): void {
    if (this.role !== "leader" || !this.conf.voters.includes(to)) return;
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === to) return;
      this.leadTransferee = NONE;
    }
    if (to === this.id) return;
    // The transfer must finish within an election timeout, or it is abandoned.
    this.electionElapsed = 0;
    this.leadTransferee = to;
    const pr = this.prs.get(to)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.maybeSendAppend(to, true);
  }

  /** Transfers leadership to the most caught-up voter (a leader that is no longer a voter). */
  handOver(): void {
    const voters = this.conf.voters.filter((id) => id !== this.id);
    if (voters.length === 0) {
      this.becomeFollower(this.term, NONE);
      return;
    }
    const matchOf = (id: NodeId) => this.prs.get(id)?.match ?? 0;
    const top = Math.max(...voters.map(matchOf));
    const best = voters.filter((id) => matchOf(id) === top);
    // A retry goes to the next equally caught-up voter: the last one may be unreachable.
    const to = best[(best.indexOf(this.lastHandOver) + 1) % best.length];
    if (to === undefined) return; // not reached: best holds at least one voter
    this.lastHandOver = to;
    this.electionElapsed = 0;
    this.leadTransferee = to;
    if (top === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.maybeSendAppend(to, true);
  }

  /**
   * Hands over once `to` has the whole log. Stepping down then is safe for liveness: `to` can
   * win even if timeout-now is lost, since no log is more up to date than its own.
   */
  sendTimeoutNow(to: NodeId): void {
    this.send({ type: "timeout-now", to });
    if (this.handingOver) this.becomeFollower(this.term, NONE);
  }

  reportUnreachable(id: NodeId): void {
    const pr = this.role === "leader" ? this.prs.get(id) : undefined;
    if (pr && pr.state !== "probe") pr.becomeProbe();
  }

  /**
   * The transport opened a connection to `id`. A leader whose appends to it were lost while it
   * could not be reached (a joiner not listening yet, above all) sends again now, not when the
   * next heartbeat is answered: an append more is always safe, a duplicate is ignored.
   */
  peerReachable(id: NodeId): void {
    if (this.role !== "leader" || id === this.id) return;
    const pr = this.prs.get(id);
    if (!pr || pr.state !== "probe") return;
    pr.probeSent = false;
    if (pr.match < this.log.lastIndex()) this.maybeSendAppend(id, true);
  }

  /**
   * The transport saw its open connection to `id` closed. When `id` is this follower's leader,
   * its lease ends now and it campaigns within 1-3 ticks instead of a whole election timeout:
   * a process that died (kill -9, a crash) has its connections closed by the kernel at once,
   * and the timeout is for a leader that went silent. Timing is no part of Raft's safety; the
   * campaign starts with a pre-vote, which a member still hearing from the leader refuses, and
   * a heartbeat from a leader that is alive after all resets the count as ever. The spread keeps
   * two followers that saw the same close from campaigning in the same instant (a split vote).
   */
  leaderLost(id: NodeId): void {
    if (this.role !== "follower" || id === NONE || this.lead !== id || !this.promotable()) return;
    const r = this.rng();
    const spread = 1 + Math.floor((r >= 0 && r < 1 ? r : 0) * 3);
    this.electionElapsed = Math.max(this.electionElapsed, this.electionTimeout);
    this.randomizedElectionTimeout = this.electionElapsed + spread;
  }
}
