/**
 * RawNode: the driver's handle on one member's Raft state machine (etcd-raft's RawNode shape).
 * Inputs are method calls; outputs come out in Ready batches, one outstanding at a time.
 * @module
 */
import type {
  ConfChange,
  Config,
  ConfState,
  HardState,
  Message,
  NodeId,
  ProposeResult,
  Ready,
  SoftState,
  Status,
} from "./types.ts";
import { Raft } from "./raft.ts";
import { statusOf } from "./status.ts";

export class RawNode {
  private readonly r: Raft;
  private prevSoft: SoftState;
  /** What the driver has been told to make durable (so a Ready only carries changes). */
  private prevHard: HardState;
  private outstanding = false;

  constructor(config: Config) {
    this.r = new Raft(config);
    this.prevSoft = this.r.softState();
    this.prevHard = this.durableHardState();
  }

  /** Advances logical time by one tick (elections, heartbeats, check-quorum count ticks). */
  tick(): void {
    this.r.tick();
  }

  /** Feeds a message from a peer. Malformed, misaddressed or stale messages are dropped quietly. */
  step(m: Message): void {
    this.r.step(m);
  }

  /** Proposes a normal entry; only the leader accepts, and not while transferring leadership. */
  propose(data: string): ProposeResult {
    return this.r.propose(data);
  }

  /** Proposes a membership change (one pending at a time); entry type "conf", data JSON of `cc`. */
  proposeConfChange(cc: ConfChange): ProposeResult {
    return this.r.proposeConfChange(cc);
  }

  /**
   * Applies a committed conf entry's change to the configuration; call it when applying that
   * entry. Returns the configuration to persist with the applied index. A leader that is no
   * longer a voter steps down.
   */
  applyConfChange(cc: ConfChange): ConfState {
    return this.r.applyConfChange(cc);
  }

  /**
   * Asks for a linearizable read tagged `ctx` (unique across the cluster). A ReadState with
   * `ctx` comes out in a later Ready once leadership is confirmed; nothing comes when there is
   * no leader or the request is lost, so the caller times out and retries.
   */
  readIndex(ctx: string): void {
    this.r.readIndex(ctx);
  }

  /** On the leader: hand leadership to voter `id` once it has caught up (within an election timeout). */
  transferLeader(id: NodeId): void {
    this.r.transferLeader(id);
  }

  /** Starts an election now (with a pre-vote first when configured), if this member is a voter. */
  campaign(): void {
    this.r.hup(false);
  }

  /** The transport could not reach `id`: the leader stops pipelining to it and probes. */
  reportUnreachable(id: NodeId): void {
    this.r.reportUnreachable(id);
  }

  /** The transport opened a connection to `id`: a leader re-sends what it lost (Raft.peerReachable). */
  peerReachable(id: NodeId): void {
    this.r.peerReachable(id);
  }

  /** The transport's open connection to `id` closed: if it is the leader, elect sooner (Raft.leaderLost). */
  leaderLost(id: NodeId): void {
    this.r.leaderLost(id);
  }

  /** The hard state as it goes into a Ready. The vote-not-persisted bug leaves the vote out. */
  private durableHardState(): HardState {
    const hs = this.r.hardState();
    if (this.r.bugs.voteNotPersisted) hs.vote = 0;
    return hs;
  }

  // The two checks below read the core's fields instead of building its SoftState and HardState:
  // the driver asks hasReady() after every message and tick, and most of the time nothing changed.

  private softChanged(): boolean {
    const r = this.r, p = this.prevSoft;
    return r.lead !== p.lead || r.role !== p.role;
  }

  /** Whether durableHardState() differs from the last one handed out. */
  private hardChanged(): boolean {
    const r = this.r, p = this.prevHard;
    return r.term !== p.term || r.log.committed !== p.commit ||
      (r.bugs.voteNotPersisted ? 0 : r.vote) !== p.vote;
  }

  hasReady(): boolean {
    if (this.outstanding) return false;
    const r = this.r;
    return this.softChanged() || this.hardChanged() || r.msgs.length > 0 ||
      r.readStates.length > 0 || r.log.unstable.hasNextEntries() ||
      r.log.unstable.nextSnapshot() !== undefined ||
      r.log.hasNextCommittedEntries();
  }

  /**
   * The next batch of work; see Ready for the order in which the driver must handle it. Only
   * one Ready is outstanding: call advance(ready) before asking for another.
   */
  ready(): Ready {
    if (this.outstanding) {
      throw new Error(
        "raft: ready() called before advance() of the previous Ready: call advance(ready) first",
      );
    }
    const r = this.r;
    const rd: Ready = {
      entries: r.log.unstable.nextEntries(),
      messages: r.msgs,
      committedEntries: r.log.nextCommittedEntries(),
      readStates: r.readStates,
    };
    const snap = r.log.unstable.nextSnapshot();
    if (snap) rd.snapshot = snap;
    if (this.softChanged()) rd.softState = this.prevSoft = r.softState();
    if (this.hardChanged()) rd.hardState = this.prevHard = this.durableHardState();
    r.msgs = [];
    r.readStates = [];
    r.log.unstable.acceptInProgress();
    const lastCommitted = rd.committedEntries.at(-1);
    if (lastCommitted) r.log.applying = Math.max(r.log.applying, lastCommitted.index);
    this.outstanding = true;
    return rd;
  }

  /** The driver persisted, sent and applied `rd` (steps 1-4 of Ready). */
  advance(rd: Ready): void {
    this.outstanding = false;
    const log = this.r.log;
    const last = rd.entries.at(-1);
    if (last) log.unstable.stableTo(last.index, last.term);
    if (rd.snapshot) {
      log.unstable.stableSnapTo(rd.snapshot.meta.index);
      log.appliedTo(rd.snapshot.meta.index);
    }
    const lastApplied = rd.committedEntries.at(-1);
    if (lastApplied) log.appliedTo(lastApplied.index);
    this.r.applied();
  }

  status(): Status {
    return statusOf(this.r);
  }

  /** The current configuration (as of the last applied conf change or installed snapshot). */
  confState(): ConfState {
    const c = this.r.conf;
    return { voters: [...c.voters], standbys: [...c.standbys], spares: [...c.spares] };
  }
}
