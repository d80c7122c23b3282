import { badRequest, conflict, notFound } from "../util/mod.ts";
import { nodeIdOf, readConfig } from "./devices.ts";
import { defineTx, type ReadTx } from "./tx.ts";

/** storage_pools.state values (LXD's). */
export const POOL_STATE = { pending: 0, created: 1, errored: 2 } as const;

/** A storage pool as stored. */
export interface PoolRecord {
  id: number;
  name: string;
  driver: string;
  description: string;
  status: string;
  /** Global keys merged with this member's own (source). */
  config: Record<string, string>;
  locations: string[];
}

const STATUS = ["Pending", "Created", "Errored"];

function toRecord(
  tx: ReadTx,
  r: { id: number; name: string; driver: string; description: string; state: number },
  member: string,
): PoolRecord {
  const nodeId = nodeIdOf(tx, member);
  const config = {
    ...readConfig(
      tx,
      "SELECT key, value FROM storage_pools_config WHERE storage_pool_id = ? AND node_id IS NULL",
      r.id,
    ),
    ...Object.fromEntries(
      tx.query<{ key: string; value: string }>(
        "SELECT key, value FROM storage_pools_config WHERE storage_pool_id = ? AND node_id = ?",
        r.id,
        nodeId,
      ).map((x) => [x.key, x.value ?? ""]),
    ),
  };
  return {
    id: r.id,
    name: r.name,
    driver: r.driver,
    description: r.description,
    status: STATUS[r.state] ?? "Unknown",
    config: Object.fromEntries(Object.keys(config).sort().map((k) => [k, config[k]!])),
    locations: tx.query<{ name: string }>(
      "SELECT nodes.name FROM storage_pools_nodes JOIN nodes ON nodes.id = node_id WHERE storage_pool_id = ? ORDER BY nodes.name",
      r.id,
    ).map((x) => x.name),
  };
}

/** Every pool, as this member sees it. */
export function listPools(tx: ReadTx, member: string): PoolRecord[] {
  return tx.query<{ id: number; name: string; driver: string; description: string; state: number }>(
    "SELECT id, name, driver, description, state FROM storage_pools ORDER BY name",
  ).map((r) => toRecord(tx, r, member));
}

/** A pool by name; 404 "Storage pool not found" otherwise. */
export function getPool(tx: ReadTx, name: string, member: string): PoolRecord {
  const r = tx.get<{ id: number; name: string; driver: string; description: string; state: number }>(
    "SELECT id, name, driver, description, state FROM storage_pools WHERE name = ?",
    name,
  );
  if (!r) throw notFound("Storage pool not found");
  return toRecord(tx, r, member);
}

/** Creates a pool on this member. Member-specific keys (source) are stored for this member. */
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
    for (const [k, v] of Object.entries(p.config)) {
      const local = k === "source" || k === "size";
      tx.exec(
        "INSERT INTO storage_pools_config (storage_pool_id, node_id, key, value) VALUES (?, ?, ?, ?)",
        id,
        local ? nodeId : null,
        k,
        v,
      );
    }
    tx.exec(
      "INSERT INTO storage_pools_nodes (storage_pool_id, node_id, state) VALUES (?, ?, ?)",
      id,
      nodeId,
      POOL_STATE.created,
    );
    return id;
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
