import { type ConfState, roleOf } from "../raft/mod.ts";
import { listNodes } from "../db/mod.ts";
import { notFound, StatusError } from "../util/mod.ts";
import type { ClusterMember } from "../wire/mod.ts";
import type { Heartbeats } from "./heartbeat.ts";
import { type DbRoleName, memberJson } from "./members.ts";
import type { Self } from "./self.ts";
import { blockedReason } from "./upgrade.ts";

/** The members as GET /1.0/cluster/members shows them: rows, database roles and liveness. */
export class MemberList {
  #self: Self;
  #heartbeats: Heartbeats;

  constructor(self: Self, heartbeats: Heartbeats) {
    this.#self = self;
    this.#heartbeats = heartbeats;
  }

  #dbRole(id: number, conf: ConfState): DbRoleName {
    if (id === this.#self.gateway.leader) return "database-leader";
    const role = roleOf(conf, id);
    return role === "voter" ? "database-voter" : role === "standby" ? "database-standby" : null;
  }

  /** Every member as GET /1.0/cluster/members?recursion=1 shows it. */
  async list(): Promise<ClusterMember[]> {
    const self = this.#self;
    if (!self.clustered()) throw new StatusError(400, "Server is not clustered");
    // Current as the leader sees it; when no leader can confirm (quorum lost), this member's
    // own copy is still the best answer for a user trying to find out what is wrong.
    const nodes = await self.db.read(listNodes).catch(() => self.db.readStale(listNodes));
    const conf = self.gateway.conf();
    return nodes.map((n) => {
      const role = this.#dbRole(n.id, conf);
      const m = memberJson(n, role, this.#heartbeats.of(n.address));
      // A member newer than another waits for the upgrade to finish (LXD's Blocked state).
      const blocked = m.status === "Online" ? blockedReason(n, nodes) : null;
      if (blocked) {
        m.status = "Blocked";
        m.message = blocked;
      }
      // LXD 5.0 names a voter "database"; the leader also carries it.
      m.roles = m.roles.flatMap((r) =>
        r === "database-voter"
          ? ["database"]
          : r === "database-leader"
          ? ["database-leader", "database"]
          : [r]
      );
      return m;
    });
  }

  /** One member by name; 404 when there is none. */
  async get(name: string): Promise<ClusterMember> {
    const m = (await this.list()).find((x) => x.server_name === name);
    if (!m) throw notFound("Cluster member not found");
    return m;
  }
}
