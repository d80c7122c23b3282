/**
 * Instance snapshots (LXD's instances_snapshots tables): each keeps the instance's config and
 * devices as they were when it was taken; its files are the member's (lib/storage).
 */
import { conflict, notFound } from "../util/mod.ts";
import { type Devices, readConfig, readDevices, writeDevices } from "./devices.ts";
import { getInstance } from "./instances.ts";
import { DEFAULT_PROJECT } from "./project_rows.ts";
import { defineTx, type ReadTx } from "./tx.ts";

export interface SnapshotRecord {
  id: number;
  name: string;
  created_at: string;
  stateful: boolean;
  description: string;
  /** "" when it never expires. */
  expires_at: string;
  config: Record<string, string>;
  devices: Devices;
}

interface Row {
  id: number;
  name: string;
  creation_date: string;
  stateful: number;
  description: string | null;
  expiry_date: string | null;
}

function toRecord(tx: ReadTx, r: Row): SnapshotRecord {
  return {
    id: r.id,
    name: r.name,
    created_at: r.creation_date,
    stateful: r.stateful === 1,
    description: r.description ?? "",
    expires_at: r.expiry_date ?? "",
    config: readConfig(
      tx,
      "SELECT key, value FROM instances_snapshots_config WHERE instance_snapshot_id = ? ORDER BY key",
      r.id,
    ),
    devices: readDevices(tx, "snapshot", r.id),
  };
}

const SELECT = "SELECT id, name, creation_date, stateful, description, expiry_date FROM instances_snapshots";

/** An instance's snapshots, oldest first (LXD lists them in creation order). */
export function listSnapshots(tx: ReadTx, instance: string, project = DEFAULT_PROJECT): SnapshotRecord[] {
  const i = getInstance(tx, instance, project);
  return tx.query<Row>(`${SELECT} WHERE instance_id = ? ORDER BY creation_date, id`, i.id).map((r) =>
    toRecord(tx, r)
  );
}

/** One snapshot; LXD's 404 otherwise. */
export function getSnapshot(
  tx: ReadTx,
  instance: string,
  name: string,
  project = DEFAULT_PROJECT,
): SnapshotRecord {
  const i = getInstance(tx, instance, project);
  const r = tx.get<Row>(`${SELECT} WHERE instance_id = ? AND name = ?`, i.id, name);
  if (!r) throw notFound("Instance snapshot not found");
  return toRecord(tx, r);
}

/** Records a snapshot of the instance's config and devices as they are now. */
export const createSnapshotRecord = defineTx(
  "snapshots.create",
  (
    tx,
    a: { project: string; instance: string; name: string; stateful: boolean; expiresAt: string },
  ): void => {
    const i = getInstance(tx, a.instance, a.project);
    if (tx.get("SELECT id FROM instances_snapshots WHERE instance_id = ? AND name = ?", i.id, a.name)) {
      throw conflict(`Snapshot "${a.instance}/${a.name}" already exists`);
    }
    const { lastInsertRowid: id } = tx.exec(
      `INSERT INTO instances_snapshots (instance_id, name, creation_date, stateful, description, expiry_date)
       VALUES (?, ?, ?, ?, '', ?)`,
      i.id,
      a.name,
      tx.now,
      a.stateful ? 1 : 0,
      a.expiresAt === "" ? null : a.expiresAt,
    );
    for (const [k, v] of Object.entries(i.config)) {
      tx.exec(
        "INSERT INTO instances_snapshots_config (instance_snapshot_id, key, value) VALUES (?, ?, ?)",
        id,
        k,
        v,
      );
    }
    writeDevices(tx, "snapshot", id, i.devices);
  },
);

export const deleteSnapshotRecord = defineTx(
  "snapshots.delete",
  (tx, a: { project: string; instance: string; name: string }): void => {
    const s = getSnapshot(tx, a.instance, a.name, a.project);
    tx.exec("DELETE FROM instances_snapshots WHERE id = ?", s.id);
  },
);

export const renameSnapshotRecord = defineTx(
  "snapshots.rename",
  (tx, a: { project: string; instance: string; from: string; to: string }): void => {
    const s = getSnapshot(tx, a.instance, a.from, a.project);
    const i = getInstance(tx, a.instance, a.project);
    if (tx.get("SELECT id FROM instances_snapshots WHERE instance_id = ? AND name = ?", i.id, a.to)) {
      throw conflict(`Name "${a.to}" already in use`);
    }
    tx.exec("UPDATE instances_snapshots SET name = ? WHERE id = ?", a.to, s.id);
  },
);

/** PUT/PATCH of a snapshot: its description and expiry are all that may change (LXD). */
export const updateSnapshotRecord = defineTx(
  "snapshots.update",
  (
    tx,
    a: { project: string; instance: string; name: string; description: string; expiresAt: string },
  ): void => {
    const s = getSnapshot(tx, a.instance, a.name, a.project);
    tx.exec(
      "UPDATE instances_snapshots SET description = ?, expiry_date = ? WHERE id = ?",
      a.description,
      a.expiresAt === "" ? null : a.expiresAt,
      s.id,
    );
  },
);
