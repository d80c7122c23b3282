/**
 * Placement decided and reserved in one replicated transaction. Every member may place a new
 * instance; deciding from its own counts and remembering its choices only in memory let members
 * placing at once each pick the same emptiest member (30 launches through 3 members landed
 * 10+ on one). Here the leader runs the choice and the reservation serially against the counts
 * and every reservation not yet turned into an instance row, so concurrent placements through
 * any members see each other.
 */
import { defineTx, instanceCountsByNode, listNodes, NODE_STATE, type Tx } from "../db/mod.ts";
import { placeInstance, type PlacementTarget } from "./placement.ts";

/**
 * How long a reservation counts at most: a creation that takes longer (or whose member died
 * before ending it) stops counting then. Longer than the longest wait on a forwarded creation.
 */
export const RESERVATION_TTL_MS = 15 * 60_000;

export interface ReserveArgs {
  target: PlacementTarget;
  /** Members the placing member hears from now (liveness is not in the database). */
  online: string[];
  project: string;
  /** The instance's name, when the request gave one: its row replaces the reservation. */
  name: string;
}

export type Reservation =
  | { kind: "placed"; member: string; id: number }
  | { kind: "no-group" }
  | { kind: "no-member" };

/** Reservations that still count: not expired and not yet an instance row (which counts itself). */
function pendingByNode(tx: Tx): Map<number, number> {
  const rows = tx.query<{ node_id: number; n: number }>(
    `SELECT node_id, count(*) AS n FROM instances_placements p
      WHERE p.expires_at > ? AND NOT EXISTS (
        SELECT 1 FROM instances i JOIN projects ON projects.id = i.project_id
         WHERE projects.name = p.project AND i.name = p.name)
      GROUP BY node_id`,
    tx.now,
  );
  return new Map(rows.map((r) => [r.node_id, r.n]));
}

/** Chooses the member (LXD's scheduler, placement.ts) and reserves a place on it. */
export const reservePlacement = defineTx("cluster.reserve_placement", (tx, a: ReserveArgs): Reservation => {
  const target = a.target;
  if (
    target !== null && "group" in target &&
    tx.get("SELECT id FROM cluster_groups WHERE name = ?", target.group) === undefined
  ) return { kind: "no-group" };
  tx.exec("DELETE FROM instances_placements WHERE expires_at <= ?", tx.now);
  const counts = instanceCountsByNode(tx);
  const pending = pendingByNode(tx);
  const online = new Set(a.online);
  const chosen = placeInstance(
    listNodes(tx).map((n) => ({
      id: n.id,
      name: n.name,
      online: online.has(n.name),
      evacuated: n.state === NODE_STATE.evacuated,
      scheduler: n.config["scheduler.instance"] ?? "all",
      groups: n.groups,
      instances: (counts.get(n.id) ?? 0) + (pending.get(n.id) ?? 0),
    })),
    target,
  );
  if (!chosen) return { kind: "no-member" };
  const expires = new Date(Date.parse(tx.now) + RESERVATION_TTL_MS).toISOString();
  const { lastInsertRowid } = tx.exec(
    "INSERT INTO instances_placements (node_id, project, name, expires_at) VALUES (?, ?, ?, ?)",
    chosen.id,
    a.project,
    a.name,
    expires,
  );
  return { kind: "placed", member: chosen.name, id: lastInsertRowid };
});

/** Ends a reservation: its creation ended (its row counts now) or failed. */
export const releasePlacement = defineTx("cluster.release_placement", (tx, a: { id: number }): void => {
  tx.exec("DELETE FROM instances_placements WHERE id = ?", a.id);
});
