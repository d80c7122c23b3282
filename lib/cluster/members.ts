import { addNode, ARCH_IDS, defineTx, GLOBAL_SCHEMA_VERSION, NODE_STATE, type NodeRow } from "../db/mod.ts";
import { badRequest, checkName, formatGoDuration, notFound } from "../util/mod.ts";
import type { ClusterMember, JoinRequest } from "../wire/mod.ts";
import type { Liveness } from "./liveness.ts";

const ARCH_NAMES = Object.fromEntries(Object.entries(ARCH_IDS).map(([k, v]) => [v, k]));

/** The database role name a member shows: database-leader, database-voter, database-standby or none. */
export type DbRoleName = "database-leader" | "database-voter" | "database-standby" | null;

/** Builds the wire form of a member. */
export function memberJson(n: NodeRow, dbRole: DbRoleName, live: Liveness): ClusterMember {
  return {
    server_name: n.name,
    url: `https://${n.address}`,
    database: dbRole !== null,
    // Evacuated first, as LXD: a member under maintenance says so whether it answers or not.
    status: n.state === NODE_STATE.evacuated ? "Evacuated" : live.online ? "Online" : "Offline",
    // An online member that cannot serve (a full disk) stays Online, as LXD has no other state
    // for it, and says why here.
    message: n.state === NODE_STATE.evacuated
      ? "Unavailable due to maintenance"
      : live.online
      ? live.problem || "Fully operational"
      : `No heartbeat for ${formatGoDuration(Math.round(live.silentMs / 1000) * 1000)} (${live.lastSeen})`,
    architecture: ARCH_NAMES[n.arch] ?? "x86_64",
    roles: [...n.roles, ...(dbRole ? [dbRole] : [])],
    failure_domain: n.failure_domain,
    description: n.description,
    config: n.config,
    groups: n.groups.length > 0 ? n.groups : ["default"],
  };
}

/** LXD's rules for a member name (DNS label-ish, not "none", not "@…"). */
export function checkMemberName(name: string): void {
  if (name === "") throw badRequest("ServerName is required when enabling clustering");
  if (name === "none") throw badRequest('ServerName cannot be "none"');
  if (name.startsWith("@")) throw badRequest('ServerName may not start with "@"');
  checkName("member", name);
}

/** The standalone member (row 1, "none") becomes the first member of a cluster. */
export const bootstrapNode = defineTx(
  "cluster.bootstrap",
  (tx, a: { name: string; address: string; cert: { fingerprint: string; pem: string } }): void => {
    const n = tx.get<{ id: number }>("SELECT id FROM nodes ORDER BY id LIMIT 1");
    if (!n) throw new Error("No member row to bootstrap from");
    tx.exec(
      "UPDATE nodes SET name = ?, address = ?, heartbeat = ? WHERE id = ?",
      a.name,
      a.address,
      tx.now,
      n.id,
    );
    // The first member's own certificate: how the others will know it (a joiner's comes with its join).
    tx.exec(
      "DELETE FROM certificates WHERE fingerprint = ? OR (type = 2 AND name = ?)",
      a.cert.fingerprint,
      a.name,
    );
    tx.exec(
      "INSERT INTO certificates (fingerprint, type, name, certificate, restricted) VALUES (?, 2, ?, ?, 0)",
      a.cert.fingerprint,
      a.name,
      a.cert.pem,
    );
  },
);

/**
 * Adds a joining member after LXD's checks: name and address unused, and the same schema and API
 * extension count as this build (members of one cluster run one version).
 */
export const acceptNode = defineTx(
  "cluster.accept",
  (tx, a: JoinRequest & { expectApi: number; expectSchema?: number }): number => {
    const schema = a.expectSchema ?? GLOBAL_SCHEMA_VERSION;
    if (a.schema !== schema) {
      throw badRequest(
        `The joining server version does not match (expected ${a.version} with DB schema ${schema})`,
      );
    }
    if (a.apiExtensions !== a.expectApi) {
      throw badRequest(
        `The joining server version does not match (expected ${a.version} with API count ${a.expectApi})`,
      );
    }
    return addNode.fn(tx, {
      name: a.name,
      address: a.address,
      arch: a.arch,
      schema: a.schema,
      apiExtensions: a.apiExtensions,
    });
  },
);

/**
 * Removes a member row (its roles, config and groups go with it) and, in the same transaction,
 * its certificate: from the moment this applies on a member, the removed one opens nothing there.
 */
export const deleteNode = defineTx("cluster.delete-node", (tx, a: { name: string }): number => {
  const n = tx.get<{ id: number }>("SELECT id FROM nodes WHERE name = ?", a.name);
  if (!n) throw notFound("Cluster member not found");
  tx.exec("DELETE FROM nodes WHERE id = ?", n.id);
  tx.exec("DELETE FROM certificates WHERE type = 2 AND name = ?", a.name);
  return n.id;
});
