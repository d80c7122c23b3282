import { badRequest, conflict, forbidden, notFound } from "../util/mod.ts";
import { defineTx, type ReadTx } from "./tx.ts";

/** A cluster group as LXD shows it. */
export interface ClusterGroupRecord {
  name: string;
  description: string;
  members: string[];
}

function groupRow(tx: ReadTx, name: string): { id: number; name: string; description: string } {
  const r = tx.get<{ id: number; name: string; description: string }>(
    "SELECT id, name, description FROM cluster_groups WHERE name = ?",
    name,
  );
  if (!r) throw notFound("Cluster group not found");
  return r;
}

function membersOf(tx: ReadTx, groupId: number): string[] {
  return tx.query<{ name: string }>(
    "SELECT nodes.name FROM nodes_cluster_groups JOIN nodes ON nodes.id = node_id WHERE group_id = ? ORDER BY nodes.name",
    groupId,
  ).map((x) => x.name);
}

/** Every cluster group, by name. */
export function listClusterGroups(tx: ReadTx): ClusterGroupRecord[] {
  return tx.query<{ id: number; name: string; description: string }>(
    "SELECT id, name, description FROM cluster_groups ORDER BY name",
  ).map((r) => ({ name: r.name, description: r.description ?? "", members: membersOf(tx, r.id) }));
}

/** One group; 404 "Cluster group not found" otherwise (LXD's text). */
export function getClusterGroup(tx: ReadTx, name: string): ClusterGroupRecord {
  const r = groupRow(tx, name);
  return { name: r.name, description: r.description ?? "", members: membersOf(tx, r.id) };
}

function nodeIdByName(tx: ReadTx, name: string): number {
  const n = tx.get<{ id: number }>("SELECT id FROM nodes WHERE name = ?", name);
  if (!n) throw notFound(`Cluster member "${name}" not found`);
  return n.id;
}

/** Creates a group with its first members (LXD: 409 when the name is taken). */
export const createClusterGroup = defineTx(
  "cluster-groups.create",
  (tx, g: ClusterGroupRecord): void => {
    if (tx.get("SELECT id FROM cluster_groups WHERE name = ?", g.name)) {
      throw conflict(`Cluster group "${g.name}" already exists`);
    }
    const { lastInsertRowid: id } = tx.exec(
      "INSERT INTO cluster_groups (name, description) VALUES (?, ?)",
      g.name,
      g.description,
    );
    for (const m of g.members) {
      tx.exec(
        "INSERT OR IGNORE INTO nodes_cluster_groups (node_id, group_id) VALUES (?, ?)",
        nodeIdByName(tx, m),
        id,
      );
    }
  },
);

/**
 * PUT of a group: its description and members. As LXD, a member leaving keeps this group when
 * it is its only one (every member is in at least one group).
 */
export const updateClusterGroup = defineTx(
  "cluster-groups.update",
  (tx, g: ClusterGroupRecord): void => {
    const row = groupRow(tx, g.name);
    tx.exec("UPDATE cluster_groups SET description = ? WHERE id = ?", g.description, row.id);
    const wanted = new Set(g.members);
    for (const old of membersOf(tx, row.id)) {
      if (wanted.has(old)) continue;
      const id = nodeIdByName(tx, old);
      const n =
        tx.get<{ n: number }>("SELECT count(*) AS n FROM nodes_cluster_groups WHERE node_id = ?", id)!.n;
      if (n > 1) tx.exec("DELETE FROM nodes_cluster_groups WHERE node_id = ? AND group_id = ?", id, row.id);
    }
    for (const m of wanted) {
      tx.exec(
        "INSERT OR IGNORE INTO nodes_cluster_groups (node_id, group_id) VALUES (?, ?)",
        nodeIdByName(tx, m),
        row.id,
      );
    }
  },
);

/** POST of a group: a new name ("default" keeps its own, as LXD). */
export const renameClusterGroup = defineTx(
  "cluster-groups.rename",
  (tx, a: { name: string; newName: string }): void => {
    if (a.name === "default") throw forbidden(`The "default" group cannot be renamed`);
    const row = groupRow(tx, a.name);
    if (tx.get("SELECT id FROM cluster_groups WHERE name = ?", a.newName)) {
      throw conflict(`Name "${a.newName}" already in use`);
    }
    tx.exec("UPDATE cluster_groups SET name = ? WHERE id = ?", a.newName, row.id);
    // Instances placed through it keep pointing at it.
    tx.exec(
      "UPDATE instances_config SET value = ? WHERE key = 'volatile.cluster.group' AND value = ?",
      a.newName,
      a.name,
    );
  },
);

/** Deletes an empty group that nothing uses ("default" never, as LXD). */
export const deleteClusterGroup = defineTx(
  "cluster-groups.delete",
  (tx, a: { name: string }): void => {
    if (a.name === "default") throw forbidden("The 'default' cluster group cannot be deleted");
    const row = groupRow(tx, a.name);
    if (membersOf(tx, row.id).length > 0) throw badRequest("Only empty cluster groups can be removed");
    if (tx.get("SELECT 1 FROM instances_config WHERE key = 'volatile.cluster.group' AND value = ?", a.name)) {
      throw badRequest("Cluster group is currently in use");
    }
    tx.exec("DELETE FROM cluster_groups WHERE id = ?", row.id);
  },
);
