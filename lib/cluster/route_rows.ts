import type { NodeRow, ReadTx } from "../db/mod.ts";

/** What routing needs of a member. */
export type RouteRow = Pick<NodeRow, "id" | "name" | "address" | "state">;

/**
 * The members as routing reads them, in one query (every forwarded request and proxied stream
 * asks; listNodes' roles, config and groups take three more per member). A spare fetches these
 * ahead of need (heartbeat.ts), and an evacuation before its moves resolve their targets.
 */
export function routeRows(tx: ReadTx): RouteRow[] {
  return tx.query<RouteRow>("SELECT id, name, address, state FROM nodes ORDER BY id");
}

/**
 * The name of the member at an address, by routeRows: a spare has those fetched ahead, where a
 * query of its own (nodeNameAt) went unanswered until first asked (a member's name shown as its
 * address meanwhile).
 */
export function memberNameAt(tx: ReadTx, address: string): string | undefined {
  return routeRows(tx).find((n) => n.address === address)?.name;
}
