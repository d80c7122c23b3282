import { type ConfChange, type ConfState, roleOf, type Status } from "../raft/mod.ts";
import { globalValue, listNodes, NODE_STATE, type NodeRow, readGlobalConfig } from "../db/mod.ts";
import { errorMessage } from "../util/mod.ts";
import type { Heartbeats } from "./heartbeat.ts";
import { nextRoleChange, type RoleInput } from "./roles.ts";
import type { Self } from "./self.ts";

/** How far behind the leader's commit a member may be and still count as caught up. */
const CAUGHT_UP_ENTRIES = 64;

/**
 * PURE: what the role decision looks at, one line per member in the configuration: its role,
 * whether it is online (as the leader sees it) and whether its log is close to the leader's.
 */
export function roleInputs(
  nodes: (Pick<NodeRow, "id" | "address" | "failure_domain"> & { state?: number })[],
  conf: ConfState,
  status: Pick<Status, "commit" | "progress"> | null,
  leaderId: number,
  online: (address: string) => boolean,
): RoleInput[] {
  const last = status?.commit ?? 0;
  return nodes.flatMap((n) => {
    const role = roleOf(conf, n.id);
    if (role === undefined) return [];
    const match = n.id === leaderId ? last : status?.progress?.[n.id]?.match ?? 0;
    return [{
      id: n.id,
      role,
      online: online(n.address),
      // A spare holds no log, whatever its progress said before it became one.
      caughtUp: role !== "spare" && match > 0 && last - match <= CAUGHT_UP_ENTRIES,
      failureDomain: n.failure_domain,
      evacuated: n.state === NODE_STATE.evacuated,
    }];
  });
}

/** The change that gives member `id` the role `role`. */
function confChangeTo(id: number, role: RoleInput["role"]): ConfChange {
  return role === "voter"
    ? { type: "add-voter", id }
    : role === "standby"
    ? { type: "add-standby", id }
    : { type: "add-spare", id };
}

/**
 * The leader's role rebalancing (LXD's rebalanceMemberRoles), around the pure decision of
 * roles.ts. One membership change at a time: a hand-over holds the same turn.
 */
export class Rebalancer {
  #self: Self;
  #heartbeats: Heartbeats;
  #busy = false;

  constructor(self: Self, heartbeats: Heartbeats) {
    this.#self = self;
    this.#heartbeats = heartbeats;
  }

  /** Runs fn while no rebalance step starts (membership changes are made one at a time). */
  async hold<T>(fn: () => Promise<T>): Promise<T> {
    this.#busy = true;
    try {
      return await fn();
    } finally {
      this.#busy = false;
    }
  }

  /** Up to eight steps of role rebalancing on the leader, until nothing is left to change. */
  async run(): Promise<void> {
    const self = this.#self;
    const g = self.gateway;
    if (this.#busy || !g.isLeader() || !self.clustered()) return;
    this.#busy = true;
    try {
      for (let step = 0; step < 8; step++) {
        const inputs = roleInputs(
          self.db.readStale(listNodes),
          g.conf(),
          g.status(),
          g.raftId,
          (address) => this.#heartbeats.of(address, true).online,
        );
        const config = self.db.readStale(readGlobalConfig);
        const change = nextRoleChange(inputs, g.raftId, {
          maxVoters: Number(globalValue(config, "cluster.max_voters")),
          maxStandby: Number(globalValue(config, "cluster.max_standby")),
        });
        if (!change) return;
        self.log.info("Changing database role", {
          id: change.id,
          role: change.role,
          reason: change.reason,
        });
        await g.changeMembership(confChangeTo(change.id, change.role));
      }
    } catch (e) {
      self.log.warn("Role rebalance failed", { err: errorMessage(e) });
    } finally {
      this.#busy = false;
    }
  }
}
