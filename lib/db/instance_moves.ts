/**
 * The database side of renaming an instance and moving it between members: one transaction
 * each, so that a move has a single commit point (the instance's row and its root volume's row
 * change member together, or neither does).
 */
import { conflict, StatusError } from "../util/mod.ts";
import { nodeIdOf, readDevices, writeDevices } from "./devices.ts";
import { DEFAULT_PROJECT, projectRow } from "./project_rows.ts";
import { defineTx, type Tx } from "./tx.ts";

/** LXD's 409 for a new name that another instance of the project has. */
function refuseTaken(tx: Tx, projectId: number, name: string): void {
  if (tx.get("SELECT id FROM instances WHERE project_id = ? AND name = ?", projectId, name)) {
    throw conflict(`Name "${name}" already in use`);
  }
}

/** Renames an instance and its root volume (same member). */
export const renameInstanceRecords = defineTx(
  "instances.rename",
  (tx, a: { project?: string; name: string; newName: string }): void => {
    const pid = projectRow(tx, a.project ?? DEFAULT_PROJECT).id;
    const r = tx.get<{ id: number }>(
      "SELECT id FROM instances WHERE project_id = ? AND name = ?",
      pid,
      a.name,
    );
    if (!r) throw new StatusError(404, "Instance not found");
    refuseTaken(tx, pid, a.newName);
    tx.exec("UPDATE instances SET name = ? WHERE id = ?", a.newName, r.id);
    tx.exec(
      "UPDATE storage_volumes SET name = ? WHERE type = 0 AND project_id = ? AND name = ?",
      a.newName,
      pid,
      a.name,
    );
  },
);

/** What re-homing an instance needs: where it must still be, where it goes, its name there. */
export interface Relocation {
  project?: string;
  name: string;
  /** The member that must still hold it: a move that lost a race changes nothing. */
  from: string;
  to: string;
  /** The name on the new member (the same when absent). */
  newName?: string;
  /** The move's id, which the source set as volatile.move.id and may call off (callOffMove). */
  moveId?: string;
}

/** The config key a move in flight holds on its instance: the source removes it to call the move off. */
export const MOVE_KEY = "volatile.move.id";

/**
 * A source giving up on a move: once this commits, the target's relocation of that move fails,
 * so that the database alone decides which of the two happened (whichever commits first).
 */
export const callOffMove = defineTx(
  "instances.call-off-move",
  (tx, a: { project?: string; name: string; moveId: string }): void => {
    tx.exec(
      `DELETE FROM instances_config WHERE key = ? AND value = ? AND instance_id =
         (SELECT id FROM instances WHERE project_id = ? AND name = ?)`,
      MOVE_KEY,
      a.moveId,
      projectRow(tx, a.project ?? DEFAULT_PROJECT).id,
      a.name,
    );
  },
);

/**
 * The commit point of a move: the instance's row and its root volume's row pass from one
 * member to the other (renamed on the way if asked) in this one transaction. Refused, changing
 * nothing, when the instance is no longer on `from` (another move or a delete came first).
 */
export const relocateInstance = defineTx("instances.relocate", (tx, a: Relocation): void => {
  const pid = projectRow(tx, a.project ?? DEFAULT_PROJECT).id;
  const from = nodeIdOf(tx, a.from);
  const to = nodeIdOf(tx, a.to);
  const r = tx.get<{ id: number; node_id: number }>(
    "SELECT id, node_id FROM instances WHERE project_id = ? AND name = ?",
    pid,
    a.name,
  );
  if (!r) throw new StatusError(404, "Instance not found");
  if (r.node_id !== from) {
    throw conflict(`Instance "${a.name}" is no longer on cluster member "${a.from}": it moved meanwhile`);
  }
  if (a.moveId !== undefined) {
    const k = tx.get<{ value: string }>(
      "SELECT value FROM instances_config WHERE instance_id = ? AND key = ?",
      r.id,
      MOVE_KEY,
    );
    if (k?.value !== a.moveId) throw conflict(`The move of "${a.name}" was called off by "${a.from}"`);
    tx.exec("DELETE FROM instances_config WHERE instance_id = ? AND key = ?", r.id, MOVE_KEY);
  }
  const name = a.newName ?? a.name;
  if (name !== a.name) refuseTaken(tx, pid, name);
  tx.exec("UPDATE instances SET node_id = ?, name = ? WHERE id = ?", to, name, r.id);
  tx.exec(
    "UPDATE storage_volumes SET node_id = ?, name = ? WHERE type = 0 AND project_id = ? AND name = ?",
    to,
    name,
    pid,
    a.name,
  );
});

/**
 * A copy's snapshots: the source's snapshot rows (config, devices, dates) recorded again for the
 * copy, as LXD's copy carries them; the files are the caller's. Returns the names copied.
 */
export const copySnapshotRecords = defineTx(
  "instances.copy-snapshots",
  (tx, a: { fromProject: string; from: string; project: string; to: string; only?: string[] }): string[] => {
    const src = tx.get<{ id: number }>(
      "SELECT id FROM instances WHERE project_id = ? AND name = ?",
      projectRow(tx, a.fromProject).id,
      a.from,
    );
    const dst = tx.get<{ id: number }>(
      "SELECT id FROM instances WHERE project_id = ? AND name = ?",
      projectRow(tx, a.project).id,
      a.to,
    );
    if (!src || !dst) throw new StatusError(404, "Instance not found");
    const rows = tx.query<
      {
        id: number;
        name: string;
        creation_date: string;
        stateful: number;
        description: string | null;
        expiry_date: string | null;
      }
    >(
      "SELECT id, name, creation_date, stateful, description, expiry_date FROM instances_snapshots WHERE instance_id = ? ORDER BY creation_date, id",
      src.id,
    ).filter((r) => a.only === undefined || a.only.includes(r.name));
    for (const r of rows) {
      const { lastInsertRowid: id } = tx.exec(
        `INSERT INTO instances_snapshots (instance_id, name, creation_date, stateful, description, expiry_date)
         VALUES (?, ?, ?, ?, ?, ?)`,
        dst.id,
        r.name,
        r.creation_date,
        r.stateful,
        r.description,
        r.expiry_date,
      );
      tx.exec(
        `INSERT INTO instances_snapshots_config (instance_snapshot_id, key, value)
         SELECT ?, key, value FROM instances_snapshots_config WHERE instance_snapshot_id = ?`,
        id,
        r.id,
      );
      writeDevices(tx, "snapshot", id, readDevices(tx, "snapshot", r.id));
    }
    return rows.map((r) => r.name);
  },
);
