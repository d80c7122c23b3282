import { CUSTOM_ROLES, defineTx, type ReadTx, type Tx } from "../db/mod.ts";
import { badRequest, conflict, notFound } from "../util/mod.ts";
import type { ClusterMember, ClusterMemberPut } from "../wire/mod.ts";
import { checkMemberName } from "./members.ts";

/**
 * Roles the leader assigns from the Raft configuration. "database" is LXD 5.0's name for a
 * voter; "database-voter" is the later one. None is stored: they follow the configuration.
 */
export const AUTOMATIC_ROLES = ["database", "database-voter", "database-standby", "database-leader"];

/** The writable part of a member, in ClusterMemberPut's key order (the ETag is taken over it). */
export function memberWritable(m: ClusterMember): Required<ClusterMemberPut> {
  const { server_name: _n, url: _u, database: _d, status: _s, message: _m, architecture: _a, ...writable } =
    m;
  return writable;
}

/**
 * Checks requested roles against the member's current ones as LXD does: automatic roles the
 * member holds are kept even when left out, and cannot be asked for when it does not hold them.
 * Returns the custom roles to store.
 */
export function checkRoles(current: string[], requested: string[]): string[] {
  const roles = [...requested];
  for (const r of current) if (AUTOMATIC_ROLES.includes(r) && !roles.includes(r)) roles.push(r);
  const seen = new Set<string>();
  for (const r of roles) {
    if (seen.has(r)) throw badRequest(`Duplicate role "${r}" in request`);
    seen.add(r);
    const automatic = AUTOMATIC_ROLES.includes(r);
    if (!automatic && !(r in CUSTOM_ROLES)) throw badRequest(`Invalid cluster role "${r}"`);
    if (automatic && !current.includes(r)) {
      throw badRequest(`The automatically assigned "${r}" role cannot be added manually`);
    }
  }
  return roles.filter((r) => !AUTOMATIC_ROLES.includes(r));
}

const SCHEDULER_VALUES = ["all", "manual", "group"];

/** Member config keys: scheduler.instance and user.* only (LXD's clusterValidateConfig). */
export function checkMemberConfig(config: Record<string, string>): void {
  for (const [k, v] of Object.entries(config)) {
    if (k.startsWith("user.")) continue;
    if (k !== "scheduler.instance") throw badRequest(`Invalid cluster configuration key "${k}"`);
    if (v !== "" && !SCHEDULER_VALUES.includes(v)) {
      throw badRequest(`Invalid cluster configuration key "${k}" value`);
    }
  }
}

/** What the transaction stores: validated already, so every member applies the same thing. */
export interface MemberUpdate {
  name: string;
  roles: string[];
  failureDomain: string;
  description: string;
  config: Record<string, string>;
  groups: string[];
  /** PATCH: keys not given keep their value. */
  mergeConfig: boolean;
}

/** Validates a PUT/PATCH body against the member as it is now; returns what to store. */
export function planMemberUpdate(
  current: ClusterMember,
  req: ClusterMemberPut,
  patch: boolean,
): MemberUpdate {
  if (typeof req !== "object" || req === null || Array.isArray(req)) {
    throw badRequest("Invalid request body: expected a ClusterMemberPut object");
  }
  const roles = checkRoles(current.roles, strings(req.roles ?? [], "roles"));
  const config = req.config ?? {};
  if (typeof config !== "object" || Array.isArray(config)) throw badRequest('"config" must be an object');
  for (const [k, v] of Object.entries(config)) {
    if (typeof v !== "string") throw badRequest(`Invalid cluster configuration key "${k}" value`);
  }
  checkMemberConfig(config);
  const groups = strings(req.groups ?? [], "groups");
  if (groups.length === 0) throw badRequest("Cluster members need to belong to at least one group");
  return {
    name: current.server_name,
    roles,
    failureDomain: typeof req.failure_domain === "string" ? req.failure_domain : "",
    description: typeof req.description === "string" ? req.description : "",
    config,
    groups: [...new Set(groups)],
    mergeConfig: patch,
  };
}

function strings(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    throw badRequest(`"${field}" must be a list of strings`);
  }
  return v as string[];
}

function nodeId(tx: ReadTx, name: string): number {
  const n = tx.get<{ id: number }>("SELECT id FROM nodes WHERE name = ?", name);
  if (!n) throw notFound("Cluster member not found");
  return n.id;
}

/** The id of a failure domain, created on first use; null for the default one. */
function failureDomainId(tx: Tx, name: string): number | null {
  if (name === "" || name === "default") return null;
  const row = tx.get<{ id: number }>("SELECT id FROM nodes_failure_domains WHERE name = ?", name);
  if (row) return row.id;
  return tx.exec("INSERT INTO nodes_failure_domains (name) VALUES (?)", name).lastInsertRowid;
}

/** PUT/PATCH of a member: config, description, custom roles, failure domain and groups. */
export const updateMember = defineTx("cluster.member-update", (tx, u: MemberUpdate): void => {
  const id = nodeId(tx, u.name);
  const config: Record<string, string> = {};
  if (u.mergeConfig) {
    for (
      const r of tx.query<{ key: string; value: string }>(
        "SELECT key, value FROM nodes_config WHERE node_id = ?",
        id,
      )
    ) {
      config[r.key] = r.value;
    }
  }
  Object.assign(config, u.config);
  const groupIds = u.groups.map((g) => {
    const row = tx.get<{ id: number }>("SELECT id FROM cluster_groups WHERE name = ?", g);
    if (!row) throw notFound(`Cluster group "${g}" does not exist`);
    return row.id;
  });
  tx.exec("DELETE FROM nodes_config WHERE node_id = ?", id);
  // An empty value unsets the key (`cluster unset` sends one).
  for (const k of Object.keys(config).sort()) {
    if (config[k] !== "") {
      tx.exec("INSERT INTO nodes_config (node_id, key, value) VALUES (?, ?, ?)", id, k, config[k]!);
    }
  }
  tx.exec(
    "UPDATE nodes SET description = ?, failure_domain_id = ? WHERE id = ?",
    u.description,
    failureDomainId(tx, u.failureDomain),
    id,
  );
  tx.exec("DELETE FROM nodes_roles WHERE node_id = ?", id);
  for (const r of u.roles) {
    tx.exec("INSERT INTO nodes_roles (node_id, role) VALUES (?, ?)", id, CUSTOM_ROLES[r]!);
  }
  tx.exec("DELETE FROM nodes_cluster_groups WHERE node_id = ?", id);
  for (const g of groupIds) {
    tx.exec("INSERT INTO nodes_cluster_groups (node_id, group_id) VALUES (?, ?)", id, g);
  }
  // Failure domains nobody uses any more go, as LXD's do.
  tx.exec(
    "DELETE FROM nodes_failure_domains WHERE id NOT IN (SELECT failure_domain_id FROM nodes WHERE failure_domain_id IS NOT NULL)",
  );
});

/** POST /1.0/cluster/members/NAME: a new name for a member (its address, and so its identity, stays). */
export const renameMember = defineTx(
  "cluster.member-rename",
  (tx, a: { name: string; newName: string }): void => {
    const id = nodeId(tx, a.name);
    if (a.newName === a.name) return;
    if (tx.get("SELECT id FROM nodes WHERE name = ?", a.newName)) {
      throw conflict(`A cluster member already exists with name "${a.newName}"`);
    }
    tx.exec("UPDATE nodes SET name = ? WHERE id = ?", a.newName, id);
    // A member is known by its certificate under its name: the two change together.
    tx.exec("DELETE FROM certificates WHERE type = 2 AND name = ?", a.newName);
    tx.exec("UPDATE certificates SET name = ? WHERE type = 2 AND name = ?", a.newName, a.name);
  },
);

/** Checks a new member name; the same rules as a joiner's. */
export function checkNewMemberName(name: unknown): string {
  if (typeof name !== "string" || name === "") throw badRequest("No server name provided");
  checkMemberName(name);
  return name;
}

/**
 * Why a member cannot leave cleanly: LXD's "Node still has the following …" for instances
 * and for images that no other member holds; null when nothing holds it.
 */
export function removalBlocker(tx: ReadTx, name: string): string | null {
  const id = nodeId(tx, name);
  const instances = tx.query<{ name: string }>(
    "SELECT name FROM instances WHERE node_id = ? ORDER BY name",
    id,
  );
  if (instances.length > 0) {
    return `Node still has the following instances: ${instances.map((i) => i.name).join(", ")}`;
  }
  const images = tx.query<{ fingerprint: string }>(
    `SELECT images.fingerprint FROM images JOIN images_nodes ON images_nodes.image_id = images.id
      WHERE images_nodes.node_id = ?
        AND NOT EXISTS (SELECT 1 FROM images_nodes o WHERE o.image_id = images.id AND o.node_id != ?)
      ORDER BY images.fingerprint`,
    id,
    id,
  );
  if (images.length > 0) {
    return `Node still has the following images: ${images.map((i) => i.fingerprint).join(", ")}`;
  }
  return null;
}
