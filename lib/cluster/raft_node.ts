/**
 * Removing a leftover Raft member (LXD's `lxd cluster remove-raft-node`): a member removed
 * uncleanly may stay in the Raft configuration with no `nodes` row. The leader takes it out.
 * @module
 */
import { listNodes } from "../db/mod.ts";
import { badRequest, notFound } from "../util/mod.ts";
import type { Forwarding } from "./forwarding.ts";
import { MEMBER_CALLS } from "./member_calls.ts";
import type { Self } from "./self.ts";

/** Takes the Raft member at `address` out of the configuration, on the leader. */
export async function removeRaftNode(self: Self, forwarding: Forwarding, address: string): Promise<void> {
  const g = self.gateway;
  if (!g.isLeader()) {
    await forwarding.leaderRequest(
      MEMBER_CALLS.removeRaftNode,
      { address },
      () => removeRaftNode(self, forwarding, address),
    );
    return;
  }
  const node = g.raftNodes().find((n) => n.address === address);
  const conf = g.conf();
  const ids = [...conf.voters, ...conf.standbys, ...conf.spares];
  if (!node || !ids.includes(node.id)) {
    throw notFound(
      `No Raft member has the address ${address} (see "shoald sql local 'SELECT * FROM raft_nodes'")`,
    );
  }
  const row = (await self.db.read(listNodes)).find((n) => n.id === node.id || n.address === address);
  if (row) {
    throw badRequest(
      `${address} is cluster member ${row.name}, not a leftover: remove it with "lxc cluster remove ${row.name}"`,
    );
  }
  if (node.id === g.raftId) throw badRequest("The database leader cannot remove itself");
  await g.changeMembership({ type: "remove", id: node.id });
  self.log.info("Removed a leftover Raft member", { id: node.id, address });
}
