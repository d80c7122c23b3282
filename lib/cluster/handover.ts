import type { ConfState, Status } from "../raft/mod.ts";
import { listNodes } from "../db/mod.ts";
import { errorMessage, unavailable } from "../util/mod.ts";
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
    const conf = g.conf();
    const leaving = self.stale(listNodes, []).find((n) => n.id === id);
    if (leaving) this.#heartbeats.stopping(leaving.address);
    if (!conf.voters.includes(id)) return;
    const standby = standbyToPromote(
      conf,
      self.stale(listNodes, []),
      g.status(),
      (address) => this.#heartbeats.of(address, true).online,
    );
    // Without a stand-by to take it, the seat stays: shedding a voter would cost fault tolerance.
    if (!standby) return;
    // Keep the leaving member's seat filled: promote first, then demote, one change at a time.
    await this.#rebalancer.hold(async () => {
      await g.changeMembership({ type: "add-voter", id: standby.id });
      await g.changeMembership({ type: "add-spare", id });
    });
  }
}
