import type { ConfState, Status } from "../raft/mod.ts";
import { listNodes } from "../db/mod.ts";
import { errorMessage, sleep, unavailable } from "../util/mod.ts";
import type { Forwarding } from "./forwarding.ts";
import type { Heartbeats } from "./heartbeat.ts";
import { MEMBER_CALLS } from "./member_calls.ts";
import type { Rebalancer } from "./rebalance.ts";
import type { Self } from "./self.ts";

/**
 * PURE: the stand-by that takes a leaving voter's seat: the first stand-by that is online and
 * has acknowledged some of the leader's log (a member that never answered cannot vote usefully).
 */
export function standbyToPromote<N extends { id: number; address: string }>(
  conf: ConfState,
  nodes: N[],
  status: Pick<Status, "progress"> | null,
  online: (address: string) => boolean,
): N | undefined {
  return conf.standbys.map((id) => nodes.find((n) => n.id === id)).find((n): n is N =>
    n !== undefined && online(n.address) && (status?.progress?.[n.id]?.match ?? 0) > 0
  );
}

/**
 * How long a leader waits for a stand-by it can promote. One handed leadership a moment ago (the
 * leaving voter led) knows no follower's progress until they answer its first append: asking
 * once, it found none and the leaving leader kept its seat (2 of 3 graceful leader stops in a
 * test), so the cluster ran on two live voters of three, and one more failure stalled it (the
 * membership test's kill -9 right after). Within the leaving member's own bound (HANDOVER_MS).
 */
const STANDBY_WAIT_MS = 1_500;

/**
 * A voter's graceful stop (LXD's handover): leadership goes first, then the leader gives the
 * leaving voter's seat to an online stand-by, so the cluster keeps its number of voters.
 */
export class HandOver {
  #self: Self;
  #forwarding: Forwarding;
  #heartbeats: Heartbeats;
  #rebalancer: Rebalancer;

  constructor(self: Self, forwarding: Forwarding, heartbeats: Heartbeats, rebalancer: Rebalancer) {
    this.#self = self;
    this.#forwarding = forwarding;
    this.#heartbeats = heartbeats;
    this.#rebalancer = rebalancer;
  }

  /**
   * Before a voter stops gracefully: hand leadership over if it leads, then ask the leader to
   * give its vote to a stand-by, so the cluster keeps its full number of voters while it is away.
   */
  async leave(): Promise<void> {
    const self = this.#self;
    if (!self.clustered()) return;
    const g = self.gateway;
    const id = g.raftId;
    const conf = g.conf();
    if (conf.voters.length + conf.standbys.length + conf.spares.length < 2) return;
    if (g.isLeader()) {
      if (conf.voters.length < 2) return;
      const ok = await g.transferLeadership(2_000);
      self.log.info("Handed over database leadership before stopping", { ok });
      if (!ok) return;
    }
    this.#heartbeats.leaving();
    try {
      await this.#forwarding.leaderRequest(MEMBER_CALLS.handover, { id });
      self.log.info("Handed over the database role before stopping");
    } catch (e) {
      self.log.warn("Could not hand over the database role", { err: errorMessage(e) });
    }
  }

  /** Leader side of a hand-over: a caught-up online stand-by (if any) takes the leaving voter's seat. */
  async accept(id: number): Promise<void> {
    const self = this.#self;
    const g = self.gateway;
    if (!g.isLeader()) throw unavailable("Not the database leader");
    const leaving = self.stale(listNodes, []).find((n) => n.id === id);
    if (leaving) this.#heartbeats.stopping(leaving.address);
    if (!g.conf().voters.includes(id)) return;
    const standby = await this.#standby();
    // Without a stand-by to take it, the seat stays: shedding a voter would cost fault tolerance.
    if (!standby || !g.isLeader() || !g.conf().voters.includes(id)) return;
    // Keep the leaving member's seat filled: promote first, then demote, one change at a time.
    await this.#rebalancer.hold(async () => {
      await g.changeMembership({ type: "add-voter", id: standby.id });
      await g.changeMembership({ type: "add-spare", id });
    });
  }

  /** The stand-by to promote, waiting up to STANDBY_WAIT_MS for one to qualify (see there why). */
  async #standby(): Promise<{ id: number; address: string } | undefined> {
    const g = this.#self.gateway;
    const deadline = Date.now() + STANDBY_WAIT_MS;
    for (;;) {
      const conf = g.conf();
      const standby = standbyToPromote(
        conf,
        this.#self.stale(listNodes, []),
        g.status(),
        (address) => this.#heartbeats.of(address, true).online,
      );
      if (standby || conf.standbys.length === 0 || !g.isLeader() || Date.now() >= deadline) return standby;
      await sleep(50);
    }
  }
}
