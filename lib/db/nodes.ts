import { conflict, notFound } from "../util/mod.ts";
import { GLOBAL_SCHEMA_VERSION } from "./schema.ts";
import { defineTx, type ReadTx } from "./tx.ts";

/** nodes.state values. */
export const NODE_STATE = { created: 0, pending: 1, evacuated: 2 } as const;

/** Custom (user-assigned) roles as stored in nodes_roles. */
export const CUSTOM_ROLES: Record<string, number> = { "event-hub": 1, "ovn-chassis": 2, "control-plane": 3 };

/** LXD's architecture ids (shared/osarch). */
export const ARCH_IDS: Record<string, number> = {
  i686: 1,
  x86_64: 2,
  armv7l: 3,
  aarch64: 4,
  ppc: 5,
  ppc64: 6,
  ppc64le: 7,
  s390x: 8,
};

/** A member row. */
export interface NodeRow {
  id: number;
  name: string;
  description: string;
  address: string;
  schema: number;
  api_extensions: number;
  heartbeat: string | null;
  state: number;
  arch: number;
  failure_domain: string;
  roles: string[];
  config: Record<string, string>;
  groups: string[];
}

/** The name of the member at a cluster address, if there is one (asked on every request). */
export function nodeNameAt(tx: ReadTx, address: string): string | undefined {
  return tx.get<{ name: string }>("SELECT name FROM nodes WHERE address = ?", address)?.name;
}

/** The address and name of the member with this id (the Raft id is the row's id). */
export function nodeById(tx: ReadTx, id: number): { address: string; name: string } | undefined {
  return tx.get<{ address: string; name: string }>("SELECT address, name FROM nodes WHERE id = ?", id);
}

/**
 * Every member, by id. Four queries whatever the number of members (their roles, config and
 * groups each in one, grouped here): one query per member for each made 49 at sixteen members,
 * read three times a heartbeat by the leader (heartbeats, roles, offline warnings).
 */
export function listNodes(tx: ReadTx): NodeRow[] {
  const rows = tx.query<
    Omit<NodeRow, "roles" | "config" | "groups" | "failure_domain"> & { failure_domain: string | null }
  >(
    `SELECT nodes.id, nodes.name, nodes.description, nodes.address, nodes.schema, nodes.api_extensions,
            nodes.heartbeat, nodes.state, nodes.arch, nodes_failure_domains.name AS failure_domain
       FROM nodes LEFT JOIN nodes_failure_domains ON nodes_failure_domains.id = nodes.failure_domain_id
      ORDER BY nodes.id`,
  );
  const roleName = Object.fromEntries(Object.entries(CUSTOM_ROLES).map(([k, v]) => [v, k]));
  const roles = byNode(
    tx.query<{ node_id: number; role: number }>(
      "SELECT node_id, role FROM nodes_roles ORDER BY node_id, role",
    ),
  );
  const config = byNode(
    tx.query<{ node_id: number; key: string; value: string }>(
      "SELECT node_id, key, value FROM nodes_config ORDER BY node_id, key",
    ),
  );
  const groups = byNode(
    tx.query<{ node_id: number; name: string }>(
      "SELECT node_id, cluster_groups.name FROM nodes_cluster_groups JOIN cluster_groups ON cluster_groups.id = nodes_cluster_groups.group_id ORDER BY node_id, cluster_groups.name",
    ),
  );
  return rows.map((r) => ({
    ...r,
    description: r.description ?? "",
    failure_domain: r.failure_domain ?? "default",
    roles: (roles.get(r.id) ?? []).map((x) => roleName[x.role] ?? String(x.role)),
    config: Object.fromEntries((config.get(r.id) ?? []).map((x) => [x.key, x.value])),
    groups: (groups.get(r.id) ?? []).map((x) => x.name),
  }));
}

/** Rows of a per-member table by member id, in their order. */
function byNode<T extends { node_id: number }>(rows: T[]): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const r of rows) {
    const list = out.get(r.node_id);
    if (list) list.push(r);
    else out.set(r.node_id, [r]);
  }
  return out;
}

/** One member by name; 404 "Cluster member not found" otherwise. */
export function getNodeByName(tx: ReadTx, name: string): NodeRow {
  const n = listNodes(tx).find((x) => x.name === name);
  if (!n) throw notFound("Cluster member not found");
  return n;
}

/** Arguments of addNode. */
export interface NewNode {
  name: string;
  address: string;
  arch: string;
  schema?: number;
  apiExtensions: number;
  description?: string;
}

/** Adds a member row (name and address unique) in group "default"; returns its id. */
export const addNode = defineTx("nodes.add", (tx, n: NewNode): number => {
  if (tx.get("SELECT id FROM nodes WHERE name = ?", n.name)) {
    throw conflict(`The cluster already has a member with name: ${n.name}`);
  }
  if (tx.get("SELECT id FROM nodes WHERE address = ?", n.address)) {
    throw conflict(`The cluster already has a member with address: ${n.address}`);
  }
  const { lastInsertRowid: id } = tx.exec(
    "INSERT INTO nodes (name, description, address, schema, api_extensions, heartbeat, state, arch) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
    n.name,
    n.description ?? "",
    n.address,
    n.schema ?? GLOBAL_SCHEMA_VERSION,
    n.apiExtensions,
    tx.now,
    ARCH_IDS[n.arch] ?? 2,
  );
  tx.exec("INSERT INTO nodes_cluster_groups (node_id, group_id) VALUES (?, 1)", id);
  return id;
});

/**
 * A standalone server is a one-member cluster named "none" at 0.0.0.0, as in LXD; its row is
 * created once and renamed when clustering is enabled.
 */
export const ensureStandaloneNode = defineTx(
  "nodes.ensure-standalone",
  (tx, a: { arch: string; apiExtensions: number }): void => {
    if (tx.get("SELECT id FROM nodes LIMIT 1")) return;
    tx.exec(
      "INSERT INTO nodes (id, name, description, address, schema, api_extensions, heartbeat, state, arch) VALUES (1, 'none', '', '0.0.0.0', ?, ?, ?, 0, ?)",
      GLOBAL_SCHEMA_VERSION,
      a.apiExtensions,
      tx.now,
      ARCH_IDS[a.arch] ?? 2,
    );
    tx.exec("INSERT INTO nodes_cluster_groups (node_id, group_id) VALUES (1, 1)");
  },
);
