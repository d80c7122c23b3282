import { instanceNamesOn, listNodes, readGlobalConfig, type ReadTx } from "../db/mod.ts";
import { memberConfigKeys } from "./member_config.ts";
import { routeRows } from "./route_rows.ts";
import { errorMessage, type TimerId, unavailable } from "../util/mod.ts";
import type { Heartbeat, HeartbeatReply, RaftNode } from "../wire/mod.ts";
import { type Liveness, LivenessTable } from "./liveness.ts";
import { callMember, MEMBER_CALLS } from "./member_calls.ts";
import type { Self } from "./self.ts";
import { METRICS } from "../util/metrics.ts";

const heartbeatSeconds = METRICS.histogram(
  "shoal_heartbeat_seconds",
  "Round trip of the leader's heartbeat to a member, by member (failures are not counted).",
);
/** Finer than LATENCY_BOUNDS below 10 ms, where a round of sixteen members on loopback spreads. */
const ROUND_BOUNDS = [
  0.0005,
  0.001,
  0.0015,
  0.002,
  0.003,
  0.004,
  0.005,
  0.0075,
  0.01,
  0.015,
  0.02,
  0.03,
  0.05,
  0.075,
  0.1,
  0.25,
  1,
];
const roundAnswer = METRICS.histogram(
  "shoal_heartbeat_round_answer_seconds",
  "From the start of the leader's heartbeat round to each member's answer: how a round spreads over the members.",
  ROUND_BOUNDS,
);
const roundSpread = METRICS.histogram(
  "shoal_heartbeat_round_seconds",
  "From the start of the leader's heartbeat round to the last member's answer (rounds every member answered).",
  ROUND_BOUNDS,
);

/**
 * Heartbeats and the liveness they give (LXD's heartbeat.go): the leader sends every member a
 * heartbeat each interval and records who answers; the others keep the leader's last one. Every
 * part that asks "is that member online" asks here.
 */
export class Heartbeats {
  #self: Self;
  #live = new LivenessTable();
  #timer: TimerId | undefined;
  #inFlight = new Set<string>();
  #stopped = false;
  #leaving = false;
  #wasLeader = false;
  /** When raft_nodes was last brought up to date with the database, and at which of its versions. */
  #refreshed = { version: "", at: 0 };
  /** Runs after each of the leader's rounds (the facade hangs the role rebalance here). */
  onRound: () => void = () => {};
  /** What rides along heartbeats and their replies (fence.ts: who fences, with what time). */
  extra: {
    heartbeat?: () => Partial<Heartbeat>;
    reply?: () => Partial<HeartbeatReply>;
    onReply?: (address: string, reply: HeartbeatReply) => void;
    onHeartbeat?: (hb: Heartbeat) => void;
  } = {};

  constructor(self: Self) {
    this.#self = self;
  }

  start(): void {
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /**
   * This member is stopping and is about to tell the leader so (hand-over): from now on it
   * answers no heartbeat. An answer sent after the leader counted it gone made it online again
   * (liveness.ts: one that answers is back), and the leader then gave the stopped member a
   * stand-by's place (membership_test, under load).
   */
  leaving(): void {
    this.#leaving = true;
  }

  /** Heartbeats go out often enough to tell "offline" within a second of the threshold. */
  #intervalMs(): number {
    return Math.min(1_000, Math.max(200, this.#self.offlineThresholdMs() / 20));
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => this.#round(), this.#intervalMs());
  }

  /** The leader changed: a new leader starts its own table, counting silence from now. */
  leaderChanged(): void {
    const leading = this.#self.gateway.isLeader();
    if (leading && !this.#wasLeader) {
      this.#live.resetLeader(this.#self.stale(listNodes, []).map((n) => n.address));
    }
    this.#wasLeader = leading;
  }

  #round(): void {
    if (this.#stopped) return;
    const self = this.#self;
    try {
      if (self.clustered() && self.gateway.isLeader()) {
        const nodes = self.db.readStale(listNodes);
        const address = self.address();
        this.#live.track(nodes.map((n) => n.address));
        this.#live.seen(address, self.gateway.health());
        this.#refreshRaftNodes();
        const hb = {
          ...this.#live.heartbeat(
            self.name(),
            self.gateway.term,
            nodes.map((n) => ({ name: n.name, address: n.address })),
          ),
          ...this.extra.heartbeat?.(),
          raft: self.gateway.raftNodes(),
          applied: self.fsm.appliedIndex,
        };
        const timeout = Math.max(500, this.#intervalMs() * 2);
        // The round's spread: answers timed from here, and the last once every member answered.
        const t0 = performance.now();
        let waiting = 0, failed = false;
        // Each member on its own: one that hangs must not hold back the others' heartbeats (it
        // just gets no new one until its last is answered or times out).
        for (const n of nodes) {
          if (n.address === address) continue;
          if (this.#inFlight.has(n.address)) {
            failed = true; // its last one is still out: this round misses it
            continue;
          }
          this.#inFlight.add(n.address);
          waiting++;
          const t = performance.now();
          callMember(self.clients.get(n.address), MEMBER_CALLS.heartbeat, hb, AbortSignal.timeout(timeout))
            .then(
              (reply) => {
                // An older member answers {}: it tells no problem.
                this.#live.seen(n.address, typeof reply?.problem === "string" ? reply.problem : null);
                if (reply) this.extra.onReply?.(n.address, reply);
                const now = performance.now();
                heartbeatSeconds.observe({ member: n.name }, (now - t) / 1000);
                roundAnswer.observe({}, (now - t0) / 1000);
                if (--waiting === 0 && !failed) roundSpread.observe({}, (now - t0) / 1000);
              },
              () => {
                failed = true; // silence is what the table measures; the round is not whole
              },
            ).finally(() => this.#inFlight.delete(n.address));
        }
        this.onRound();
      }
    } catch (e) {
      self.log.warn("Heartbeat round failed", { err: errorMessage(e) });
    } finally {
      this.#schedule();
    }
  }

  /** Follower side: PUT /internal/heartbeat. The reply tells the leader why this member cannot serve, if so. */
  receive(hb: Heartbeat): HeartbeatReply {
    if (this.#leaving) throw unavailable("This member is stopping");
    this.#live.received(hb);
    const g = this.#self.gateway;
    this.#refreshRaftNodes();
    const raft = Array.isArray(hb.raft) && hb.raft.every(isRaftNode) ? hb.raft : undefined;
    if (raft && typeof hb.applied === "number") g.fromLeader(raft, hb.applied, hb.term);
    this.extra.onHeartbeat?.(hb);
    // A spare's stale reads lag the leader by about a heartbeat.
    if (!g.replica()) void this.#primeSpare(typeof hb.applied === "number" ? hb.applied : Infinity);
    return { problem: this.#self.gateway.health(), ...this.extra.reply?.() };
  }

  /**
   * A member without a replica (a spare) answers stale reads from the leader's answers to the
   * same queries: those made on every request or every second are fetched before any asks, and
   * every one asked so far is fetched again once the leader's applied index has moved.
   */
  async #primeSpare(leaderApplied: number): Promise<void> {
    const db = this.#self.db;
    try {
      await db.renewStale(leaderApplied);
      for (const fn of SPARE_PRIMED) await db.warm(fn);
      // After routeRows, which names this member. Fencing's list: a spare fences when it can
      // reach no leader, so it cannot ask then (fence.ts).
      const me = this.#self.name();
      await db.warm((tx) => instanceNamesOn(tx, me));
    } catch { /* the next heartbeat tries again */ }
  }

  /**
   * raft_nodes follows the database's names and addresses (gateway.refreshRaftNodes), asked at
   * each heartbeat only once the database moved: a query per member every second on every
   * member, for nothing at rest. Every REFRESH_MS anyway, for a change that moves no version.
   */
  #refreshRaftNodes(): void {
    const version = this.#self.db.readVersion, now = performance.now();
    if (version === this.#refreshed.version && now - this.#refreshed.at < REFRESH_MS) return;
    this.#self.gateway.refreshRaftNodes();
    this.#refreshed = { version, at: now };
  }

  /** This member joined a cluster: silence counts from now. */
  restart(): void {
    this.#live.restart();
  }

  /** Leader side: a member answered (a joiner just accepted). */
  seen(address: string): void {
    this.#live.seen(address);
  }

  /** Leader side: a member said it is stopping. */
  stopping(address: string): void {
    this.#live.stopping(address);
  }

  /**
   * What is known of a member's liveness. `asLeader` asks as the leader would whatever this
   * member is (the leader's own decisions: roles, hand-over).
   */
  of(address: string, asLeader = false): Liveness {
    const self = address === this.#self.address();
    const live = this.#live.of(address, {
      self,
      leading: asLeader || this.#self.gateway.isLeader(),
      thresholdMs: this.#self.offlineThresholdMs(),
    });
    // This member knows its own problem first hand, before any heartbeat carries it.
    return self ? { ...live, problem: this.#self.gateway.health() ?? "" } : live;
  }

  isOnline(address: string): boolean {
    return this.of(address).online;
  }
}

/** How long raft_nodes may go without being refreshed at rest (see #refreshRaftNodes). */
const REFRESH_MS = 10_000;

/**
 * The stale reads a spare makes all the time (member list, config, the members' addresses, the
 * members as routing sees them: every forwarded request and a move's target resolve by it).
 */
const SPARE_PRIMED: ((tx: ReadTx) => unknown)[] = [
  listNodes,
  routeRows,
  readGlobalConfig,
  memberConfigKeys,
  (tx) => tx.query("SELECT address FROM nodes"),
];

function isRaftNode(x: unknown): x is RaftNode {
  const n = x as Partial<RaftNode> | null;
  return typeof n?.id === "number" && typeof n.address === "string" && typeof n.role === "number" &&
    typeof n.name === "string";
}
