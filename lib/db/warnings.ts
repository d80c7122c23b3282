/**
 * Warnings (LXD's warnings table and its rules, lxd/db/warnings.go): one row per member, project,
 * entity and type; a warning noticed again counts up and, if it had been resolved, is new again.
 */
import { notFound } from "../util/mod.ts";
import { defineTx, type ReadTx } from "./tx.ts";

/** LXD 5.0.2's warning types that shoal raises (lxd/db/warningtype): code, name, severity. */
export const WARNING_TYPES = {
  offlineClusterMember: { code: 21, name: "Offline cluster member", severity: "low" },
} as const;

export type WarningType = keyof typeof WARNING_TYPES;

/** LXD's status codes. */
export const WARNING_STATUS = { new: 1, acknowledged: 2, resolved: 3 } as const;

/** LXD's entity type codes (lxd/db/cluster): what a warning is about. */
export const ENTITY_TYPE = { none: -1, node: 10 } as const;

/** A warning as stored, with its member and project by name. */
export interface WarningRow {
  uuid: string;
  location: string;
  project: string;
  type_code: number;
  status: number;
  first_seen_date: string;
  last_seen_date: string;
  last_message: string;
  count: number;
  entity_type_code: number;
  entity_id: number;
}

const SELECT = `SELECT w.uuid, COALESCE(nodes.name, '') AS location, COALESCE(projects.name, '') AS project,
       w.type_code, w.status, w.first_seen_date, w.last_seen_date, w.last_message, w.count,
       COALESCE(w.entity_type_code, -1) AS entity_type_code, COALESCE(w.entity_id, -1) AS entity_id
  FROM warnings w LEFT JOIN nodes ON nodes.id = w.node_id LEFT JOIN projects ON projects.id = w.project_id`;

/** Every warning, or those of a project ("" is the warnings of no project, as LXD's filter). */
export function listWarnings(tx: ReadTx, filter: { project?: string; location?: string } = {}): WarningRow[] {
  return tx.query<WarningRow>(
    `${SELECT} WHERE (? IS NULL OR COALESCE(projects.name, '') = ?) AND (? IS NULL OR COALESCE(nodes.name, '') = ?)
      ORDER BY w.id`,
    filter.project ?? null,
    filter.project ?? null,
    filter.location ?? null,
    filter.location ?? null,
  );
}

/** One warning by UUID; LXD's 404 otherwise. */
export function getWarning(tx: ReadTx, uuid: string): WarningRow {
  const w = tx.get<WarningRow>(`${SELECT} WHERE w.uuid = ?`, uuid);
  if (!w) throw notFound("Warning not found");
  return w;
}

export interface UpsertWarning {
  member: string;
  type: WarningType;
  entity: { type: number; id: number };
  message: string;
  /** The UUID a new warning takes (randomness is the proposer's). */
  uuid: string;
}

/** Records that a member noticed a warning (LXD's UpsertWarning). */
export const upsertWarning = defineTx("warnings.upsert", (tx, a: UpsertWarning): void => {
  const node = tx.get<{ id: number }>("SELECT id FROM nodes WHERE name = ?", a.member);
  if (!node) return;
  const code = WARNING_TYPES[a.type].code;
  const w = tx.get<{ id: number; status: number }>(
    `SELECT id, status FROM warnings WHERE node_id = ? AND project_id IS NULL AND type_code = ?
        AND entity_type_code = ? AND entity_id = ?`,
    node.id,
    code,
    a.entity.type,
    a.entity.id,
  );
  if (w) {
    tx.exec(
      "UPDATE warnings SET last_message = ?, last_seen_date = ?, updated_date = ?, status = ?, count = count + 1 WHERE id = ?",
      a.message,
      tx.now,
      tx.now,
      w.status === WARNING_STATUS.resolved ? WARNING_STATUS.new : w.status,
      w.id,
    );
    return;
  }
  tx.exec(
    `INSERT INTO warnings (node_id, project_id, entity_type_code, entity_id, uuid, type_code, status,
       first_seen_date, last_seen_date, last_message, count) VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
    node.id,
    a.entity.type,
    a.entity.id,
    a.uuid,
    code,
    WARNING_STATUS.new,
    tx.now,
    tx.now,
    a.message,
  );
});

/**
 * The condition is gone (LXD's ResolveWarningsByLocalNodeAndProjectAndTypeAndEntity): the
 * warnings of that type and entity noticed by `member`, or by any member when none is named (a
 * warning the previous leader raised is resolved by the next).
 */
export const resolveWarning = defineTx(
  "warnings.resolve",
  (tx, a: { member?: string; type: WarningType; entity: { type: number; id: number } }): void => {
    tx.exec(
      `UPDATE warnings SET status = ?, updated_date = ?
        WHERE (? IS NULL OR node_id = (SELECT id FROM nodes WHERE name = ?)) AND type_code = ?
          AND entity_type_code = ? AND entity_id = ? AND status != ?`,
      WARNING_STATUS.resolved,
      tx.now,
      a.member ?? null,
      a.member ?? null,
      WARNING_TYPES[a.type].code,
      a.entity.type,
      a.entity.id,
      WARNING_STATUS.resolved,
    );
  },
);

/** The entities with a warning of that type not resolved yet, whoever noticed it. */
export function openWarnings(tx: ReadTx, type: WarningType, entityType: number): number[] {
  return tx.query<{ entity_id: number }>(
    "SELECT DISTINCT entity_id FROM warnings WHERE type_code = ? AND entity_type_code = ? AND status != ?",
    WARNING_TYPES[type].code,
    entityType,
    WARNING_STATUS.resolved,
  ).map((r) => r.entity_id);
}

/** PUT/PATCH /1.0/warnings/UUID: acknowledged or new again. */
export const setWarningStatus = defineTx(
  "warnings.status",
  (tx, a: { uuid: string; status: number }): void => {
    getWarning(tx, a.uuid);
    tx.exec("UPDATE warnings SET status = ?, updated_date = ? WHERE uuid = ?", a.status, tx.now, a.uuid);
  },
);

export const deleteWarning = defineTx("warnings.delete", (tx, a: { uuid: string }): void => {
  getWarning(tx, a.uuid);
  tx.exec("DELETE FROM warnings WHERE uuid = ?", a.uuid);
});
