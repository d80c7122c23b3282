/**
 * What a project may hold (limits.*) and do (restricted.*): the checks that count what it holds,
 * run inside the transaction that changes it, on the leader, so two members can never both admit
 * the last instance; and where a restricted project may place its instances.
 */
import { badRequest, parseSize } from "../util/mod.ts";
import { readConfig, readDevices } from "./devices.ts";
import { isTrue, projectConfig, projectRow } from "./project_rows.ts";
import type { ReadTx } from "./tx.ts";

/** An instance as the limits count it: its type and expanded config and devices. */
interface Counted {
  name: string;
  type: number;
  config: Record<string, string>;
  devices: Record<string, Record<string, string>>;
}

/** Every instance of a project with its profiles applied (profiles first, then its own). */
function countedInstances(tx: ReadTx, projectId: number): Counted[] {
  return tx.query<{ id: number; name: string; type: number }>(
    "SELECT id, name, type FROM instances WHERE project_id = ? ORDER BY name",
    projectId,
  ).map((i) => {
    const config: Record<string, string> = {};
    const devices: Record<string, Record<string, string>> = {};
    for (
      const p of tx.query<{ id: number }>(
        "SELECT profile_id AS id FROM instances_profiles WHERE instance_id = ? ORDER BY apply_order",
        i.id,
      )
    ) {
      Object.assign(
        config,
        readConfig(tx, "SELECT key, value FROM profiles_config WHERE profile_id = ?", p.id),
      );
      Object.assign(devices, readDevices(tx, "profile", p.id));
    }
    Object.assign(
      config,
      readConfig(tx, "SELECT key, value FROM instances_config WHERE instance_id = ?", i.id),
    );
    Object.assign(devices, readDevices(tx, "instance", i.id));
    return { name: i.name, type: i.type, config, devices };
  });
}

/** The aggregate limits: the instance key each sums, and how a value reads. */
const AGGREGATES: Record<
  string,
  { of: (i: Counted) => string | undefined; parse: (v: string) => number | null }
> = {
  "limits.cpu": { of: (i) => i.config["limits.cpu"], parse: cpuCount },
  "limits.memory": { of: (i) => i.config["limits.memory"], parse: parseSize },
  "limits.processes": {
    of: (i) => i.config["limits.processes"],
    parse: (v) => (/^\d+$/.test(v) ? Number(v) : null),
  },
  "limits.disk": { of: (i) => rootSize(i), parse: parseSize },
};

/** limits.cpu of an instance as a count of CPUs: "2", or a set "0-1,3" (LXD counts its members). */
function cpuCount(v: string): number | null {
  if (/^\d+$/.test(v)) return Number(v);
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(v)) return null;
  let n = 0;
  for (const part of v.split(",")) {
    const [a, b] = part.split("-").map(Number);
    n += b === undefined ? 1 : b! - a! + 1;
  }
  return n;
}

/** Bytes in LXD's IEC form ("64MiB", "1.50GiB"). */
function iec(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(2)}${units[i]}`;
}

/** A project's own custom volumes with their size config. */
function customVolumeSizes(tx: ReadTx, projectId: number): { name: string; size: string | null }[] {
  return tx.query<{ name: string; size: string | null }>(
    `SELECT v.name, c.value AS size FROM storage_volumes v
       LEFT JOIN storage_volumes_config c ON c.storage_volume_id = v.id AND c.key = 'size'
      WHERE v.project_id = ? AND v.type = 2 ORDER BY v.name`,
    projectId,
  );
}

function rootSize(i: Counted): string | undefined {
  for (const d of Object.values(i.devices)) if (d.type === "disk" && d.path === "/") return d.size;
  return undefined;
}

/**
 * Why the project's instances exceed its limits (config: the project's, perhaps proposed), or
 * null. "create" words it as LXD refuses a new instance; "update" as LXD refuses a limit lower
 * than what the project holds.
 */
export function limitsProblem(
  tx: ReadTx,
  p: { id: number; name: string },
  config: Record<string, string>,
  mode: "create" | "update",
): string | null {
  const keys = Object.keys(config).filter((k) =>
    config[k] !== "" && (k.startsWith("limits.") || k === "restricted")
  );
  if (keys.length === 0) return null;
  const all = countedInstances(tx, p.id);
  const counts: [string, number, string][] = [
    ["limits.instances", all.length, "total instances"],
    ["limits.containers", all.filter((i) => i.type === 0).length, "instances of type container"],
    ["limits.virtual-machines", all.filter((i) => i.type === 1).length, "instances of type virtual-machine"],
  ];
  for (const [key, n, what] of counts) {
    const v = config[key];
    if (v === undefined || v === "") continue;
    const limit = Number(v);
    if (n <= limit) continue;
    if (mode === "update") {
      return `"${key}" is too low: there currently are ${n} ${what} in project "${p.name}"`;
    }
    // LXD's text, with the key named: a refusal should say which limit to raise.
    return key === "limits.instances"
      ? `Reached maximum number of instances in project "${p.name}" (limits.instances=${v})`
      : `Reached maximum number of instances of type "${
        key === "limits.containers" ? "container" : "virtual-machine"
      }" in project "${p.name}" (${key}=${v})`;
  }
  for (const [key, agg] of Object.entries(AGGREGATES)) {
    const v = config[key];
    if (v === undefined || v === "") continue;
    const limit = agg.parse(v);
    if (limit === null) return `Invalid project configuration key "${key}" value`;
    let total = 0;
    for (const i of all) {
      const own = agg.of(i);
      const n = own === undefined || own === "" ? null : agg.parse(own);
      if (n === null) {
        const what = key === "limits.disk" ? "'size' on its root disk device" : `'${key}'`;
        return `Instance "${i.name}" in project "${p.name}" has no ${what} set, either directly or via a profile (required by the project's ${key})`;
      }
      total += n;
    }
    if (key === "limits.disk") {
      // Custom volumes count too, each by its size (LXD's limits.disk).
      for (const vol of customVolumeSizes(tx, p.id)) {
        const n = vol.size === null ? null : parseSize(vol.size);
        if (n === null) {
          return `Custom volume "${vol.name}" in project "${p.name}" has no 'size' set (required by the project's limits.disk)`;
        }
        total += n;
      }
    }
    if (total > limit) {
      return mode === "update"
        ? `"${key}" is too low: current total is ${
          key === "limits.memory" || key === "limits.disk" ? iec(total) : total
        }`
        : `Reached maximum aggregate value "${v}" for "${key}" in project "${p.name}"`;
    }
  }
  if (isTrue(config.restricted)) {
    for (const i of all) {
      const why = restrictionProblem(config, i);
      if (why) return `Invalid instance "${i.name}" in project "${p.name}": ${why}`;
    }
  }
  return null;
}

/** Why an instance breaks a restricted project's rules (LXD's texts), or null. */
function restrictionProblem(config: Record<string, string>, i: Counted): string | null {
  if (
    (config["restricted.containers.nesting"] ?? "block") === "block" && isTrue(i.config["security.nesting"])
  ) {
    return "Container nesting is forbidden";
  }
  const privilege = config["restricted.containers.privilege"] ?? "unprivileged";
  if (privilege !== "allow" && isTrue(i.config["security.privileged"])) {
    return "Privileged containers are forbidden";
  }
  if ((config["restricted.containers.lowlevel"] ?? "block") === "block") {
    for (const k of Object.keys(i.config)) {
      if (k.startsWith("raw.") || k.startsWith("linux.") || k === "security.idmap.base") {
        return `Use of low-level configuration key "${k}" is forbidden`;
      }
    }
  }
  for (const [name, d] of Object.entries(i.devices)) {
    const type = d.type ?? "";
    const rule = config[`restricted.devices.${type}`] ??
      (type === "disk" || type === "nic" ? "managed" : "block");
    if (rule === "allow") continue;
    if (rule === "block") return `Device "${name}": ${type} devices are forbidden`;
    // managed: a disk only from a storage pool (or the root), a nic only on a managed network.
    if (type === "disk" && !d.pool && d.path !== "/") {
      return `Device "${name}": Disk devices with a host path source are forbidden`;
    }
    if (type === "nic" && !d.network) return `Device "${name}": Only managed network devices are allowed`;
  }
  return null;
}

/**
 * Refuses, inside the transaction that just wrote an instance, a project that now holds more
 * than its limits allow or something its restrictions forbid. Called after the write so that
 * the new instance counts as it will be stored; throwing rolls the write back.
 */
export function checkProjectLimits(tx: ReadTx, project: string): void {
  const r = projectRow(tx, project);
  const problem = limitsProblem(tx, r, projectConfig(tx, r.id), "create");
  if (problem) throw badRequest(problem);
}

/** Usage against limits, for GET /1.0/projects/NAME/state (LXD's ProjectState). */
export function projectState(tx: ReadTx, name: string): Record<string, { limit: number; usage: number }> {
  const r = projectRow(tx, name);
  const config = projectConfig(tx, r.id);
  const all = countedInstances(tx, r.id);
  const limitOf = (k: string, parse: (v: string) => number | null) => {
    const v = config[k];
    return v === undefined || v === "" ? -1 : parse(v) ?? -1;
  };
  const uint = (v: string) => Number(v);
  const sum = (k: string) => {
    const agg = AGGREGATES[k]!;
    return all.reduce((t, i) => t + (agg.parse(agg.of(i) ?? "") ?? 0), 0);
  };
  return {
    containers: { limit: limitOf("limits.containers", uint), usage: all.filter((i) => i.type === 0).length },
    cpu: { limit: limitOf("limits.cpu", uint), usage: sum("limits.cpu") },
    disk: {
      limit: limitOf("limits.disk", parseSize),
      usage: sum("limits.disk") +
        customVolumeSizes(tx, r.id).reduce((t, v) => t + (parseSize(v.size ?? "") ?? 0), 0),
    },
    instances: { limit: limitOf("limits.instances", uint), usage: all.length },
    memory: { limit: limitOf("limits.memory", parseSize), usage: sum("limits.memory") },
    networks: {
      limit: limitOf("limits.networks", uint),
      usage: tx.get<{ n: number }>("SELECT count(*) AS n FROM networks WHERE project_id = ?", r.id)!.n,
    },
    processes: { limit: limitOf("limits.processes", uint), usage: sum("limits.processes") },
    "virtual-machines": {
      limit: limitOf("limits.virtual-machines", uint),
      usage: all.filter((i) => i.type === 1).length,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Placement restrictions

/** The cluster groups a restricted project may place instances in (null: any). */
export function allowedGroups(tx: ReadTx, project: string): string[] | null {
  const r = projectRow(tx, project);
  const config = projectConfig(tx, r.id);
  if (!isTrue(config.restricted)) return null;
  const groups = (config["restricted.cluster.groups"] ?? "").split(",").map((g) => g.trim()).filter((g) => g);
  return groups.length === 0 ? null : groups;
}

/**
 * Why a project refuses an instance placed by `--target` (a member, or "@group"), in LXD's
 * words, or null. As LXD, restricted.cluster.target (default "block" in a restricted project)
 * binds restricted clients only: the server's administrators still move instances where they
 * must (evacuation, repairs); the allowed cluster groups bind everyone.
 */
export function targetProblem(
  tx: ReadTx,
  project: string,
  target: string,
  callerRestricted: boolean,
): string | null {
  const r = projectRow(tx, project);
  const config = projectConfig(tx, r.id);
  if (!isTrue(config.restricted)) return null;
  if (callerRestricted && (config["restricted.cluster.target"] ?? "block") === "block") {
    return "This project doesn't allow cluster member targeting";
  }
  const groups = allowedGroups(tx, project);
  if (groups === null) return null;
  if (target.startsWith("@")) {
    return groups.includes(target.slice(1)) ? null : "Project isn't allowed to use this cluster group";
  }
  const memberGroups = tx.query<{ name: string }>(
    `SELECT cluster_groups.name FROM nodes_cluster_groups
       JOIN cluster_groups ON cluster_groups.id = group_id JOIN nodes ON nodes.id = node_id
      WHERE nodes.name = ?`,
    target,
  ).map((g) => g.name);
  return memberGroups.some((g) => groups.includes(g))
    ? null
    : "Project isn't allowed to use this cluster member";
}

/**
 * Refuses early, before an image is fetched or a volume made, a new instance that the project's
 * instance counts already rule out (LXD's texts). Only a hint for the caller: the transaction
 * that writes the instance checks again, and that check is the one that holds under races.
 */
export function checkRoomForInstance(tx: ReadTx, project: string): void {
  const r = projectRow(tx, project);
  const config = projectConfig(tx, r.id);
  const counts = tx.get<{ all: number; containers: number }>(
    'SELECT count(*) AS "all", coalesce(sum(type = 0), 0) AS containers FROM instances WHERE project_id = ?',
    r.id,
  )!;
  for (
    const [key, n] of [["limits.instances", counts.all], ["limits.containers", counts.containers]] as const
  ) {
    const v = config[key];
    if (v === undefined || v === "" || n < Number(v)) continue;
    throw badRequest(
      key === "limits.instances"
        ? `Reached maximum number of instances in project "${r.name}" (limits.instances=${v})`
        : `Reached maximum number of instances of type "container" in project "${r.name}" (limits.containers=${v})`,
    );
  }
}
