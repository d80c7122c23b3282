/**
 * Custom storage volumes: each lives on one member (node_id), so the same name may exist on
 * several members of a pool, as in LXD. Instance volumes are in instances.ts.
 */
import { badRequest, conflict, notFound } from "../util/mod.ts";
import { nodeIdOf, readConfig } from "./devices.ts";
import { checkProjectLimits } from "./project_limits.ts";
import { DEFAULT_PROJECT, featureProject, projectUrl } from "./project_rows.ts";
import { defineTx, type ReadTx, type Tx } from "./tx.ts";

/**
 * Where a project's custom volumes live (features.storage.volumes): its own, or default's. The
 * name is also the volume's prefix on disk (LXD's PROJECT_NAME).
 */
export function volumeProject(tx: ReadTx, project: string | undefined): { id: number; name: string } {
  return featureProject(tx, project ?? DEFAULT_PROJECT, "storage.volumes");
}

/** A custom volume's directory name in its pool: PROJECT_NAME (LXD's project.StorageVolume). */
export function volumeKey(volumeProject: string, name: string): string {
  return `${volumeProject}_${name}`;
}

/** A custom volume as stored. */
export interface CustomVolume {
  id: number;
  name: string;
  pool: string;
  description: string;
  config: Record<string, string>;
  location: string;
  created_at: string;
  /** The project the volume belongs to. */
  project: string;
}

const CUSTOM = 2;

/** The custom volumes of a pool named `name` (any member), or all of them. */
export function findCustomVolumes(tx: ReadTx, pool: string, name?: string, project?: string): CustomVolume[] {
  const vp = volumeProject(tx, project).id;
  const rows = tx.query<
    {
      id: number;
      name: string;
      description: string;
      location: string | null;
      created: string;
      project: string;
    }
  >(
    `SELECT v.id, v.name, v.description, nodes.name AS location, v.creation_date AS created, pr.name AS project
       FROM storage_volumes v JOIN storage_pools p ON p.id = v.storage_pool_id JOIN projects pr ON pr.id = v.project_id
       LEFT JOIN nodes ON nodes.id = v.node_id
      WHERE p.name = ? AND v.type = ${CUSTOM} AND v.project_id = ? AND (? IS NULL OR v.name = ?)
      ORDER BY v.name, nodes.name`,
    pool,
    vp,
    name ?? null,
    name ?? null,
  );
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    pool,
    description: r.description,
    config: readConfig(
      tx,
      "SELECT key, value FROM storage_volumes_config WHERE storage_volume_id = ? ORDER BY key",
      r.id,
    ),
    location: r.location ?? "",
    created_at: r.created,
    project: r.project,
  }));
}

/** The one volume `name` on `member`; LXD's 404 otherwise. */
export function getCustomVolume(
  tx: ReadTx,
  pool: string,
  name: string,
  member: string,
  project?: string,
): CustomVolume {
  const node = tx.get<{ name: string }>("SELECT name FROM nodes WHERE id = ?", nodeIdOf(tx, member))?.name;
  const v = findCustomVolumes(tx, pool, name, project).find((x) => x.location === node);
  if (!v) throw notFound("Storage volume not found");
  return v;
}

/**
 * The instances (on the volume's member) and profiles whose disk devices use a volume: those of
 * every project whose volumes live where this one does.
 */
export function volumeUsedBy(
  tx: ReadTx,
  pool: string,
  name: string,
  member: string,
  project?: string,
): string[] {
  const nodeId = nodeIdOf(tx, member);
  const vp = volumeProject(tx, project).id;
  const projects = new Map(
    tx.query<{ id: number; name: string }>("SELECT id, name FROM projects").filter((p) =>
      volumeProject(tx, p.name).id === vp
    ).map((p) => [p.id, p.name]),
  );
  const ids = [...projects.keys()].join(",");
  const q = (owner: "instances" | "profiles", extra: string, ...params: (number | string)[]) =>
    tx.query<{ name: string; project_id: number }>(
      `SELECT DISTINCT o.name, o.project_id FROM ${owner} o JOIN ${owner}_devices d ON d.${
        owner.slice(0, -1)
      }_id = o.id
        WHERE d.type = 2 AND o.project_id IN (${ids}) ${extra}
          AND EXISTS (SELECT 1 FROM ${owner}_devices_config c WHERE c.${
        owner.slice(0, -1)
      }_device_id = d.id AND c.key = 'pool' AND c.value = ?)
          AND EXISTS (SELECT 1 FROM ${owner}_devices_config c WHERE c.${
        owner.slice(0, -1)
      }_device_id = d.id AND c.key = 'source' AND c.value = ?)
        ORDER BY o.name`,
      ...params,
      pool,
      name,
    ).map((r) => projectUrl(`/1.0/${owner}/${r.name}`, projects.get(r.project_id) ?? DEFAULT_PROJECT));
  return [...q("instances", "AND o.node_id = ?", nodeId), ...q("profiles", "")];
}

function poolId(tx: ReadTx, pool: string): number {
  const p = tx.get<{ id: number }>("SELECT id FROM storage_pools WHERE name = ?", pool);
  if (!p) throw notFound("Storage pool not found");
  return p.id;
}

function volumeId(tx: ReadTx, pool: string, name: string, member: string, project?: string): number {
  const r = tx.get<{ id: number }>(
    `SELECT id FROM storage_volumes WHERE storage_pool_id = ? AND node_id = ? AND type = ${CUSTOM} AND project_id = ? AND name = ?`,
    poolId(tx, pool),
    nodeIdOf(tx, member),
    volumeProject(tx, project).id,
    name,
  );
  if (!r) throw notFound("Storage volume not found");
  return r.id;
}

function writeVolumeConfig(tx: Tx, id: number, config: Record<string, string>): void {
  tx.exec("DELETE FROM storage_volumes_config WHERE storage_volume_id = ?", id);
  for (const [k, v] of Object.entries(config)) {
    tx.exec("INSERT INTO storage_volumes_config (storage_volume_id, key, value) VALUES (?, ?, ?)", id, k, v);
  }
}

/** Records a custom volume on a member; LXD's conflict when that member has one of that name. */
export const createCustomVolume = defineTx(
  "storage-volumes.create-custom",
  (
    tx,
    a: {
      pool: string;
      name: string;
      description: string;
      config: Record<string, string>;
      member: string;
      project?: string;
    },
  ) => {
    const pid = poolId(tx, a.pool);
    const nodeId = nodeIdOf(tx, a.member);
    const vp = volumeProject(tx, a.project).id;
    if (
      tx.get(
        `SELECT id FROM storage_volumes WHERE storage_pool_id = ? AND node_id = ? AND type = ${CUSTOM} AND project_id = ? AND name = ?`,
        pid,
        nodeId,
        vp,
        a.name,
      )
    ) throw conflict("Volume by that name already exists");
    const { lastInsertRowid: id } = tx.exec(
      `INSERT INTO storage_volumes (name, storage_pool_id, node_id, type, description, project_id, content_type, creation_date)
       VALUES (?, ?, ?, ${CUSTOM}, ?, ?, 0, ?)`,
      a.name,
      pid,
      nodeId,
      a.description,
      vp,
      tx.now,
    );
    writeVolumeConfig(tx, id, a.config);
    // A volume counts against its project's limits.disk, in the write that makes it.
    checkProjectLimits(tx, volumeProject(tx, a.project).name);
  },
);

/** Replaces a volume's description and config. */
export const updateCustomVolume = defineTx(
  "storage-volumes.update-custom",
  (
    tx,
    a: {
      pool: string;
      name: string;
      member: string;
      description: string;
      config: Record<string, string>;
      project?: string;
    },
  ) => {
    const id = volumeId(tx, a.pool, a.name, a.member, a.project);
    tx.exec("UPDATE storage_volumes SET description = ? WHERE id = ?", a.description, id);
    writeVolumeConfig(tx, id, a.config);
    checkProjectLimits(tx, volumeProject(tx, a.project).name);
  },
);

/** Renames a volume on its member; refused while in use or when the name is taken there. */
export const renameCustomVolume = defineTx(
  "storage-volumes.rename-custom",
  (tx, a: { pool: string; name: string; member: string; newName: string; project?: string }) => {
    const id = volumeId(tx, a.pool, a.name, a.member, a.project);
    if (volumeUsedBy(tx, a.pool, a.name, a.member, a.project).length > 0) {
      throw badRequest("Volume is still in use by running instances");
    }
    const taken = tx.get(
      `SELECT id FROM storage_volumes WHERE storage_pool_id = ? AND node_id = ? AND type = ${CUSTOM} AND project_id = ? AND name = ?`,
      poolId(tx, a.pool),
      nodeIdOf(tx, a.member),
      volumeProject(tx, a.project).id,
      a.newName,
    );
    if (taken) throw conflict("Volume by that name already exists");
    tx.exec("UPDATE storage_volumes SET name = ? WHERE id = ?", a.newName, id);
  },
);

/** Deletes a volume's record; refused while an instance or profile uses it. */
export const deleteCustomVolume = defineTx(
  "storage-volumes.delete-custom",
  (tx, a: { pool: string; name: string; member: string; project?: string }) => {
    const id = volumeId(tx, a.pool, a.name, a.member, a.project);
    if (volumeUsedBy(tx, a.pool, a.name, a.member, a.project).length > 0) {
      throw badRequest("The storage volume is still in use");
    }
    tx.exec("DELETE FROM storage_volumes WHERE id = ?", id);
  },
);

/**
 * LXD's refusal to remove a member that still holds custom volumes (NodeIsEmpty), or null.
 * A forced removal purges their records with the member's row instead (ON DELETE CASCADE).
 */
export function memberVolumesProblem(tx: ReadTx, member: string): string | null {
  const names = tx.query<{ name: string }>(
    `SELECT v.name FROM storage_volumes v JOIN nodes n ON n.id = v.node_id
      WHERE n.name = ? AND v.type = ${CUSTOM} ORDER BY v.name`,
    member,
  ).map((r) => r.name);
  return names.length > 0 ? `Node still has the following custom volumes: ${names.join(", ")}` : null;
}
