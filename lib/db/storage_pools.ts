import { badRequest, conflict, notFound } from "../util/mod.ts";
import { nodeIdOf, readConfig } from "./devices.ts";
import { defineTx, type ReadTx, type Tx } from "./tx.ts";

/** storage_pools.state and storage_pools_nodes.state values (LXD's). */
export const POOL_STATE = { pending: 0, created: 1, errored: 2 } as const;

/**
 * Keys that may differ between members (LXD's NodeSpecificStorageConfig): each member keeps its
 * own value (a row with its node_id); every other key is the pool's, the same on every member.
 */
export const POOL_MEMBER_KEYS = [
  "source",
  "size",
  "zfs.pool_name",
  "lvm.thinpool_name",
  "lvm.vg_name",
] as const;

/** Whether a pool config key is member-specific. */
export function isPoolMemberKey(key: string): boolean {
  return (POOL_MEMBER_KEYS as readonly string[]).includes(key);
}

/** A storage pool as stored. */
export interface PoolRecord {
  id: number;
  name: string;
  driver: string;
  description: string;
  /** The pool's state in the cluster: Pending until the cluster-wide create, then Created. */
  status: string;
  /** Global keys merged with the member's own (source...), when a member was named. */
  config: Record<string, string>;
  locations: string[];
  /** Each member's own state ("Pending", "Created", "Errored") by name. */
  memberStates: Record<string, string>;
}

const STATUS = ["Pending", "Created", "Errored"];

interface PoolRow {
  id: number;
  name: string;
  driver: string;
  description: string;
  state: number;
}

/** A pool's global keys, merged with one member's own (member null: the global keys only). */
function poolConfig(tx: ReadTx, id: number, nodeId: number | null): Record<string, string> {
  const config = {
    ...readConfig(
      tx,
      "SELECT key, value FROM storage_pools_config WHERE storage_pool_id = ? AND node_id IS NULL",
      id,
    ),
    ...(nodeId === null ? {} : Object.fromEntries(
      tx.query<{ key: string; value: string }>(
        "SELECT key, value FROM storage_pools_config WHERE storage_pool_id = ? AND node_id = ?",
        id,
        nodeId,
      ).map((x) => [x.key, x.value ?? ""]),
    )),
  };
  return Object.fromEntries(Object.keys(config).sort().map((k) => [k, config[k]!]));
}

function toRecord(tx: ReadTx, r: PoolRow, member: string | null): PoolRecord {
  const states = tx.query<{ name: string; state: number }>(
    "SELECT nodes.name, storage_pools_nodes.state FROM storage_pools_nodes JOIN nodes ON nodes.id = node_id WHERE storage_pool_id = ? ORDER BY nodes.name",
    r.id,
  );
  return {
    id: r.id,
    name: r.name,
    driver: r.driver,
    description: r.description,
    status: STATUS[r.state] ?? "Unknown",
    config: poolConfig(tx, r.id, member === null ? null : nodeIdOf(tx, member)),
    locations: states.map((x) => x.name),
    memberStates: Object.fromEntries(states.map((s) => [s.name, STATUS[s.state] ?? "Unknown"])),
  };
}

const POOL_COLUMNS = "SELECT id, name, driver, description, state FROM storage_pools";

/** Every pool, as a member sees it (null: global keys only). */
export function listPools(tx: ReadTx, member: string | null): PoolRecord[] {
  return tx.query<PoolRow>(`${POOL_COLUMNS} ORDER BY name`).map((r) => toRecord(tx, r, member));
}

/** A pool by name, or null. */
export function findPool(tx: ReadTx, name: string, member: string | null): PoolRecord | null {
  const r = tx.get<PoolRow>(`${POOL_COLUMNS} WHERE name = ?`, name);
  return r ? toRecord(tx, r, member) : null;
}

/** A pool by name; 404 "Storage pool not found" otherwise. */
export function getPool(tx: ReadTx, name: string, member: string | null): PoolRecord {
  const p = findPool(tx, name, member);
  if (!p) throw notFound("Storage pool not found");
  return p;
}

function insertConfig(tx: Tx, id: number, nodeId: number | null, config: Record<string, string>): void {
  for (const [k, v] of Object.entries(config)) {
    tx.exec(
      `INSERT INTO storage_pools_config (storage_pool_id, node_id, key, value) VALUES (?, ?, ?, ?)
       ON CONFLICT (storage_pool_id, node_id, key) DO UPDATE SET value = excluded.value`,
      id,
      nodeId,
      k,
      v,
    );
  }
}

/** Creates a pool on this member in one step (a standalone server, a one-member cluster). */
export const createPool = defineTx(
  "storage-pools.create",
  (
    tx,
    p: { name: string; driver: string; description: string; config: Record<string, string>; member: string },
  ): number => {
    if (tx.get("SELECT id FROM storage_pools WHERE name = ?", p.name)) {
      throw conflict(`Storage pool "${p.name}" already exists`);
    }
    const nodeId = nodeIdOf(tx, p.member);
    const { lastInsertRowid: id } = tx.exec(
      "INSERT INTO storage_pools (name, driver, description, state) VALUES (?, ?, ?, ?)",
      p.name,
      p.driver,
      p.description,
      POOL_STATE.created,
    );
    const own = Object.entries(p.config).filter(([k]) => isPoolMemberKey(k));
    const global = Object.entries(p.config).filter(([k]) => !isPoolMemberKey(k));
    insertConfig(tx, id, null, Object.fromEntries(global));
    // Instances find their member's own rows in the "none" member of a standalone server too;
    // one that later bootstraps a cluster keeps them under its new name (same node row).
    insertConfig(tx, id, nodeId, Object.fromEntries(own));
    tx.exec(
      "INSERT INTO storage_pools_nodes (storage_pool_id, node_id, state) VALUES (?, ?, ?)",
      id,
      nodeId,
      POOL_STATE.created,
    );
    return id;
  },
);

/**
 * The first phase of a cluster-wide create (`lxc storage create --target M`): the pool is
 * defined for member M with M's own keys and stays Pending. LXD's texts for a pool that exists
 * with another driver or already created, and for M defined twice.
 */
export const definePoolMember = defineTx(
  "storage-pools.define-member",
  (
    tx,
    a: { name: string; driver: string; description: string; config: Record<string, string>; member: string },
  ): void => {
    const n = tx.get<{ id: number }>("SELECT id FROM nodes WHERE name = ?", a.member);
    if (!n) throw notFound("Cluster member not found");
    let p = tx.get<{ id: number; driver: string; state: number }>(
      "SELECT id, driver, state FROM storage_pools WHERE name = ?",
      a.name,
    );
    if (!p) {
      const { lastInsertRowid: id } = tx.exec(
        "INSERT INTO storage_pools (name, driver, description, state) VALUES (?, ?, ?, ?)",
        a.name,
        a.driver,
        a.description,
        POOL_STATE.pending,
      );
      p = { id, driver: a.driver, state: POOL_STATE.pending };
    } else {
      if (p.driver !== a.driver) throw badRequest("Storage pool already exists with a different driver");
      if (p.state !== POOL_STATE.pending) throw badRequest("Storage pool is not in pending state");
    }
    if (tx.get("SELECT id FROM storage_pools_nodes WHERE storage_pool_id = ? AND node_id = ?", p.id, n.id)) {
      throw badRequest(`The storage pool already defined on member "${a.member}"`);
    }
    tx.exec(
      "INSERT INTO storage_pools_nodes (storage_pool_id, node_id, state) VALUES (?, ?, ?)",
      p.id,
      n.id,
      POOL_STATE.pending,
    );
    insertConfig(tx, p.id, n.id, a.config);
  },
);

/**
 * What the second phase needs, checked before any member does its part: the pool is pending
 * and defined for every member (LXD's "Pool not defined on nodes: ..."). Returns each
 * member's own keys by member name.
 */
export function pendingPoolParts(
  tx: ReadTx,
  name: string,
  driver: string,
): Record<string, Record<string, string>> {
  const p = tx.get<{ id: number; driver: string; state: number }>(
    "SELECT id, driver, state FROM storage_pools WHERE name = ?",
    name,
  );
  if (!p) throw badRequest("Pool not pending on any node (use --target <node> first)");
  if (p.state === POOL_STATE.created) throw badRequest("The storage pool is already created");
  if (p.driver !== driver) {
    throw badRequest(
      `Requested storage pool driver "${driver}" doesn't match driver in existing database record "${p.driver}"`,
    );
  }
  const nodes = tx.query<{ id: number; name: string }>("SELECT id, name FROM nodes ORDER BY name");
  const defined = new Set(
    tx.query<{ node_id: number }>("SELECT node_id FROM storage_pools_nodes WHERE storage_pool_id = ?", p.id)
      .map((r) => r.node_id),
  );
  const missing = nodes.filter((n) => !defined.has(n.id)).map((n) => n.name);
  if (missing.length > 0) throw badRequest(`Pool not defined on nodes: ${missing.join(", ")}`);
  return Object.fromEntries(nodes.map((n) => [
    n.name,
    Object.fromEntries(
      tx.query<{ key: string; value: string | null }>(
        "SELECT key, value FROM storage_pools_config WHERE storage_pool_id = ? AND node_id = ?",
        p.id,
        n.id,
      ).map((r) => [r.key, r.value ?? ""]),
    ),
  ]));
}

/**
 * The end of the second phase, once every member did its part: the global keys, each member's
 * keys as its part resolved them (source filled in), and Created everywhere. Refused if another
 * request finished or removed the pool meanwhile (the caller then undoes the parts).
 */
export const finishPool = defineTx(
  "storage-pools.finish",
  (
    tx,
    a: {
      name: string;
      description: string;
      config: Record<string, string>;
      parts: Record<string, Record<string, string>>;
    },
  ): void => {
    const p = tx.get<{ id: number; state: number }>(
      "SELECT id, state FROM storage_pools WHERE name = ?",
      a.name,
    );
    if (!p) throw notFound("Storage pool not found");
    if (p.state === POOL_STATE.created) throw badRequest("The storage pool is already created");
    tx.exec("DELETE FROM storage_pools_config WHERE storage_pool_id = ? AND node_id IS NULL", p.id);
    insertConfig(tx, p.id, null, a.config);
    for (const [member, own] of Object.entries(a.parts)) {
      insertConfig(tx, p.id, nodeIdOf(tx, member), own);
    }
    if (a.description !== "") {
      tx.exec("UPDATE storage_pools SET description = ? WHERE id = ?", a.description, p.id);
    }
    tx.exec("UPDATE storage_pools SET state = ? WHERE id = ?", POOL_STATE.created, p.id);
    tx.exec("UPDATE storage_pools_nodes SET state = ? WHERE storage_pool_id = ?", POOL_STATE.created, p.id);
  },
);

/**
 * Replaces a pool's description and config: the global keys (member null), or one member's own
 * keys (`lxc storage set --target`).
 */
export const updatePool = defineTx(
  "storage-pools.update",
  (
    tx,
    a: { name: string; description: string; config: Record<string, string>; member: string | null },
  ): void => {
    const p = tx.get<{ id: number }>("SELECT id FROM storage_pools WHERE name = ?", a.name);
    if (!p) throw notFound("Storage pool not found");
    tx.exec("UPDATE storage_pools SET description = ? WHERE id = ?", a.description, p.id);
    if (a.member === null) {
      tx.exec("DELETE FROM storage_pools_config WHERE storage_pool_id = ? AND node_id IS NULL", p.id);
      insertConfig(tx, p.id, null, a.config);
      return;
    }
    const nodeId = nodeIdOf(tx, a.member);
    tx.exec("DELETE FROM storage_pools_config WHERE storage_pool_id = ? AND node_id = ?", p.id, nodeId);
    insertConfig(tx, p.id, nodeId, a.config);
  },
);

/** A member takes its part of a created pool (a joining member): its row and its own keys. */
export const addPoolMember = defineTx(
  "cluster.pool-member",
  (tx, a: { pool: string; member: string; config: Record<string, string> }): void => {
    const p = tx.get<{ id: number }>("SELECT id FROM storage_pools WHERE name = ?", a.pool);
    const n = tx.get<{ id: number }>("SELECT id FROM nodes WHERE name = ?", a.member);
    if (!p || !n) return;
    tx.exec(
      "INSERT INTO storage_pools_nodes (storage_pool_id, node_id, state) VALUES (?, ?, 1) ON CONFLICT (storage_pool_id, node_id) DO NOTHING",
      p.id,
      n.id,
    );
    insertConfig(tx, p.id, n.id, a.config);
  },
);

/** Deletes a pool; refused while a volume or profile uses it. */
export const deletePool = defineTx("storage-pools.delete", (tx, a: { name: string }): void => {
  const r = tx.get<{ id: number }>("SELECT id FROM storage_pools WHERE name = ?", a.name);
  if (!r) throw notFound("Storage pool not found");
  if (tx.get("SELECT id FROM storage_volumes WHERE storage_pool_id = ? LIMIT 1", r.id)) {
    throw badRequest("The storage pool is currently in use");
  }
  tx.exec("DELETE FROM storage_pools WHERE id = ?", r.id);
});

/** A storage volume as stored. */
export interface VolumeRecord {
  id: number;
  name: string;
  pool: string;
  type: string;
  location: string;
  created_at: string;
}

/** LXD's storage volume type codes. */
export const VOLUME_TYPES: Record<string, number> = {
  container: 0,
  image: 1,
  custom: 2,
  "virtual-machine": 3,
};

/** The volumes of a pool. */
export function listVolumes(tx: ReadTx, pool: string): VolumeRecord[] {
  const names = Object.fromEntries(Object.entries(VOLUME_TYPES).map(([k, v]) => [v, k]));
  return tx.query<
    { id: number; name: string; pool: string; type: number; location: string | null; created: string }
  >(
    `SELECT storage_volumes.id, storage_volumes.name, storage_pools.name AS pool, storage_volumes.type,
            nodes.name AS location, storage_volumes.creation_date AS created
       FROM storage_volumes JOIN storage_pools ON storage_pools.id = storage_pool_id
       LEFT JOIN nodes ON nodes.id = storage_volumes.node_id
      WHERE storage_pools.name = ? ORDER BY storage_volumes.type, storage_volumes.name`,
    pool,
  ).map((r) => ({
    id: r.id,
    name: r.name,
    pool: r.pool,
    type: names[r.type] ?? "custom",
    location: r.location ?? "",
    created_at: r.created,
  }));
}
