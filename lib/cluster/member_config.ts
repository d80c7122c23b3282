import type { ReadTx } from "../db/mod.ts";
import { badRequest } from "../util/mod.ts";
import type { MemberConfigKey } from "../wire/mod.ts";

/** Keys that each member sets for itself, per storage driver (LXD's member-specific keys). */
const POOL_MEMBER_KEYS: Record<string, string[]> = {
  dir: ["source"],
  btrfs: ["source", "size"],
  lvm: ["source", "size", "lvm.vg_name", "lvm.thinpool_name"],
  zfs: ["source", "size", "zfs.pool_name"],
};

/** The cluster's pools by name and driver. */
export function clusterPools(tx: ReadTx): { name: string; driver: string }[] {
  return tx.query<{ name: string; driver: string }>("SELECT name, driver FROM storage_pools ORDER BY name");
}

/** The cluster's created networks by name (a joiner takes its part of these). */
export function clusterNetworks(tx: ReadTx): { name: string }[] {
  return tx.query<{ name: string }>(
    "SELECT name FROM networks WHERE project_id = 1 AND state = 1 ORDER BY name",
  );
}

/** What GET /1.0/cluster asks a joiner ahead of time, from the cluster's pools and networks. */
export function memberConfigKeys(tx: ReadTx): MemberConfigKey[] {
  const pools = clusterPools(tx).flatMap((p) =>
    (POOL_MEMBER_KEYS[p.driver] ?? ["source"]).map((key) => ({
      entity: "storage-pool" as const,
      name: p.name,
      key,
      value: "",
      description: `"${key}" property for storage pool "${p.name}"`,
    }))
  );
  // LXD asks for a bridge's external interfaces, the one key a member keeps for itself.
  const networks = clusterNetworks(tx).map((n) => ({
    entity: "network" as const,
    name: n.name,
    key: "bridge.external_interfaces",
    value: "",
    description: `"bridge.external_interfaces" property for network "${n.name}"`,
  }));
  return [...pools, ...networks];
}

/**
 * The leader's check of a joiner's pools: each pool the joiner defines must be the cluster's
 * pool of that name with the same driver, and each answer must name a pool and key that exist.
 * Returns nothing; throws LXD-style messages that say what to change.
 */
export function checkJoinerPools(
  tx: ReadTx,
  joiner: { pools: { name: string; driver: string }[]; memberConfig: MemberConfigKey[] },
): void {
  const cluster = new Map(clusterPools(tx).map((p) => [p.name, p.driver]));
  for (const p of joiner.pools) {
    const driver = cluster.get(p.name);
    if (driver === undefined) {
      throw badRequest(
        `The joining server has storage pool "${p.name}", which the cluster does not have: delete it on the joining server, or create it in the cluster first`,
      );
    }
    if (driver !== p.driver) {
      throw badRequest(
        `Mismatching config for storage pool "${p.name}": the cluster's uses driver "${driver}", the joining server's "${p.driver}"`,
      );
    }
  }
  const keys = new Set(memberConfigKeys(tx).map((k) => `${k.entity}/${k.name}/${k.key}`));
  for (const k of joiner.memberConfig) {
    if (!keys.has(`${k.entity}/${k.name}/${k.key}`)) {
      throw badRequest(
        `Invalid member_config: "${k.key}" of ${k.entity} "${k.name}" is not a member-specific key of this cluster (GET /1.0/cluster lists them)`,
      );
    }
  }
}
