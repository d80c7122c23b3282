/**
 * Projects, LXD's unit of tenancy: each names where its instances, profiles, images, custom
 * volumes and networks live (its own rows, or the default project's, by features.*), what it
 * may hold (limits.*) and what it may do (restricted.*). Every check that counts what a
 * project holds runs inside the transaction that changes it, on the leader, so two members can
 * never both admit the last instance.
 */
import { badRequest, conflict, forbidden, notFound, parseSize } from "../util/mod.ts";
import { readConfig, readDevices } from "./devices.ts";
import { defineTx, type ReadTx, type Tx } from "./tx.ts";

export const DEFAULT_PROJECT = "default";

/** The features a project may keep apart from the default project's. */
export type Feature = "images" | "profiles" | "storage.volumes" | "networks";
export const FEATURES: readonly Feature[] = ["images", "profiles", "storage.volumes", "networks"];
/** Enabled on a new project unless its request says otherwise (LXD's DefaultEnabled). */
const DEFAULT_ENABLED: readonly Feature[] = ["images", "profiles", "storage.volumes"];

/** A project as the API shows it. */
export interface ProjectRecord {
  id: number;
  name: string;
  description: string;
  config: Record<string, string>;
  used_by: string[];
}

const BOOL = ["true", "false", "1", "0", "yes", "no", "on", "off"];
const isTrue = (v: string | undefined) =>
  v !== undefined && ["true", "1", "yes", "on"].includes(v.toLowerCase());

type Check = (v: string) => string | null;
const bool: Check = (v) => (BOOL.includes(v.toLowerCase()) ? null : "Invalid value for a boolean");
const uint: Check = (v) => (/^\d+$/.test(v) && Number(v) < 2 ** 32 ? null : "Invalid value for an integer");
const size: Check = (v) => (parseSize(v) !== null ? null : "Invalid value for a size");
const oneOf =
  (...xs: string[]): Check => (v) => (xs.includes(v) ? null : `Invalid value (one of ${xs.join(", ")})`);
const anyValue: Check = () => null;
const DEVICE_RESTRICTIONS = [
  "unix-char",
  "unix-block",
  "unix-hotplug",
  "infiniband",
  "gpu",
  "usb",
  "pci",
  "proxy",
  "nic",
  "disk",
];

/** The project config keys shoal knows (LXD 5.0's, those it enforces), each with its check. */
const KEYS: Record<string, Check> = {
  "features.images": bool,
  "features.profiles": bool,
  "features.storage.volumes": bool,
  "features.networks": bool,
  "limits.instances": uint,
  "limits.containers": uint,
  "limits.virtual-machines": uint,
  "limits.cpu": uint,
  "limits.memory": size,
  "limits.disk": size,
  "limits.processes": uint,
  "limits.networks": uint,
  restricted: bool,
  "restricted.containers.nesting": oneOf("allow", "block"),
  "restricted.containers.privilege": oneOf("unprivileged", "isolated", "allow"),
  "restricted.containers.lowlevel": oneOf("allow", "block"),
  "restricted.cluster.groups": anyValue,
  "restricted.cluster.target": oneOf("allow", "block"),
  "restricted.snapshots": oneOf("allow", "block"),
  "restricted.backups": oneOf("allow", "block"),
  ...Object.fromEntries(
    DEVICE_RESTRICTIONS.map((
      d,
    ) => [
      `restricted.devices.${d}`,
      d === "disk" || d === "nic" ? oneOf("allow", "block", "managed") : oneOf("allow", "block"),
    ]),
  ),
};

/** Why a project name cannot be one (LXD's projectValidateName texts), or null. */
export function projectNameProblem(name: unknown): string | null {
  if (typeof name !== "string" || name === "") return "No name provided";
  if (name.includes("/")) return "Project names may not contain slashes";
  if (name.includes(" ")) return "Project names may not contain spaces";
  if (name.includes("_")) return "Project names may not contain underscores";
  if (name.includes("'") || name.includes('"')) return "Project names may not contain quotes";
  if (name === "*") return "Reserved project name";
  if (name === "." || name === "..") return `Invalid project name "${name}"`;
  // Beyond LXD: a project name becomes part of paths and container names.
  for (const ch of name) {
    const c = ch.codePointAt(0)!;
    if (c < 0x21 || c === 0x7f || c > 0x7e) return `Invalid project name "${name}": use printable ASCII`;
  }
  if (name.length > 63) return "Project names may not be longer than 63 characters";
  return null;
}

/** Why a project config is refused (LXD's texts), or null. */
export function projectConfigProblem(config: Record<string, unknown>): string | null {
  for (const k of Object.keys(config).sort()) {
    const v = config[k];
    if (typeof v !== "string") return `Invalid project configuration key "${k}" value: expected a string`;
    if (k.startsWith("user.")) continue;
    const check = KEYS[k];
    if (!check) return `Invalid project configuration key "${k}"`;
    if (v === "") continue;
    const p = check(v);
    if (p !== null) return `Invalid project configuration key "${k}" value: ${p}`;
  }
  return null;
}

interface Row {
  id: number;
  name: string;
  description: string | null;
}

/** The project's row; 404 "Project not found" (LXD's text) otherwise. */
export function projectRow(tx: ReadTx, name: string): Row {
  const r = tx.get<Row>("SELECT id, name, description FROM projects WHERE name = ?", name);
  if (!r) throw notFound("Project not found");
  return r;
}

/** A project's config. */
export function projectConfig(tx: ReadTx, id: number): Record<string, string> {
  return readConfig(tx, "SELECT key, value FROM projects_config WHERE project_id = ? ORDER BY key", id);
}

/**
 * Where a project's resources of a feature live: its own rows when the feature is on, the
 * default project's otherwise (LXD's features.* semantics).
 */
export function featureProject(tx: ReadTx, project: string, feature: Feature): { id: number; name: string } {
  const r = projectRow(tx, project);
  if (r.id === 1) return { id: 1, name: DEFAULT_PROJECT };
  const v = tx.get<{ value: string | null }>(
    "SELECT value FROM projects_config WHERE project_id = ? AND key = ?",
    r.id,
    `features.${feature}`,
  );
  return isTrue(v?.value ?? undefined) ? { id: r.id, name: r.name } : { id: 1, name: DEFAULT_PROJECT };
}

/** A URL of something in a project, as LXD writes used_by (no ?project= for default). */
export function projectUrl(path: string, project: string): string {
  return project === DEFAULT_PROJECT ? path : `${path}?project=${encodeURIComponent(project)}`;
}

/** What a project holds, as LXD's used_by lists it. */
export function projectUsedBy(tx: ReadTx, r: Row): string[] {
  const config = projectConfig(tx, r.id);
  const own = (f: Feature) => r.id === 1 || isTrue(config[`features.${f}`]);
  const out: string[] = [];
  const add = (rows: { name: string }[], prefix: string) => {
    for (const x of rows) out.push(projectUrl(`${prefix}/${encodeURIComponent(x.name)}`, r.name));
  };
  add(tx.query("SELECT name FROM instances WHERE project_id = ? ORDER BY name", r.id), "/1.0/instances");
  if (own("profiles")) {
    add(tx.query("SELECT name FROM profiles WHERE project_id = ? ORDER BY name", r.id), "/1.0/profiles");
  }
  if (own("images")) {
    add(
      tx.query("SELECT fingerprint AS name FROM images WHERE project_id = ? ORDER BY fingerprint", r.id),
      "/1.0/images",
    );
  }
  if (own("storage.volumes")) {
    for (
      const v of tx.query<{ pool: string; name: string }>(
        `SELECT storage_pools.name AS pool, storage_volumes.name FROM storage_volumes
           JOIN storage_pools ON storage_pools.id = storage_pool_id
          WHERE project_id = ? AND type = 2 ORDER BY storage_pools.name, storage_volumes.name`,
        r.id,
      )
    ) {
      out.push(
        projectUrl(
          `/1.0/storage-pools/${encodeURIComponent(v.pool)}/volumes/custom/${encodeURIComponent(v.name)}`,
          r.name,
        ),
      );
    }
  }
  if (own("networks")) {
    add(tx.query("SELECT name FROM networks WHERE project_id = ? ORDER BY name", r.id), "/1.0/networks");
  }
  return out;
}

function toRecord(tx: ReadTx, r: Row): ProjectRecord {
  return {
    id: r.id,
    name: r.name,
    description: r.description ?? "",
    config: projectConfig(tx, r.id),
    used_by: projectUsedBy(tx, r),
  };
}

/** Every project, by name. */
export function listProjects(tx: ReadTx): ProjectRecord[] {
  return tx.query<Row>("SELECT id, name, description FROM projects ORDER BY name").map((r) =>
    toRecord(tx, r)
  );
}

/** A project by name; 404 "Project not found". */
export function getProject(tx: ReadTx, name: string): ProjectRecord {
  return toRecord(tx, projectRow(tx, name));
}

/** Empty as LXD counts it: nothing but its own default profile. */
function isEmpty(tx: ReadTx, r: Row): boolean {
  const used = projectUsedBy(tx, r);
  return used.every((u) => u === projectUrl("/1.0/profiles/default", r.name));
}

function writeConfig(tx: Tx, id: number, config: Record<string, string>): void {
  tx.exec("DELETE FROM projects_config WHERE project_id = ?", id);
  for (const [k, v] of Object.entries(config)) {
    if (v === "") continue;
    tx.exec("INSERT INTO projects_config (project_id, key, value) VALUES (?, ?, ?)", id, k, v);
  }
}

function createDefaultProfile(tx: Tx, id: number, name: string): void {
  tx.exec(
    "INSERT INTO profiles (name, description, project_id) VALUES ('default', ?, ?)",
    `Default LXD profile for project ${name}`,
    id,
  );
}

/** What creating a project takes (POST /1.0/projects). */
export interface NewProject {
  name: string;
  description: string;
  config: Record<string, string>;
}

/** The config a new project starts with: the request's, features defaulting as LXD's. */
export function newProjectConfig(config: Record<string, string>): Record<string, string> {
  const out = { ...config };
  for (const f of DEFAULT_ENABLED) if (out[`features.${f}`] === undefined) out[`features.${f}`] = "true";
  return out;
}

export const createProject = defineTx("projects.create", (tx, p: NewProject): void => {
  const bad = projectNameProblem(p.name) ?? projectConfigProblem(p.config);
  if (bad) throw badRequest(bad);
  if (tx.get("SELECT id FROM projects WHERE name = ?", p.name)) {
    throw conflict(`Failed creating project "${p.name}": A project named "${p.name}" already exists`);
  }
  const { lastInsertRowid: id } = tx.exec(
    "INSERT INTO projects (name, description) VALUES (?, ?)",
    p.name,
    p.description,
  );
  writeConfig(tx, id, p.config);
  if (isTrue(p.config["features.profiles"])) createDefaultProfile(tx, id, p.name);
});

/** A project's writable part (PUT /1.0/projects/NAME). */
export interface ProjectPut {
  name: string;
  description: string;
  config: Record<string, string>;
}

export const updateProject = defineTx("projects.update", (tx, u: ProjectPut): void => {
  const r = projectRow(tx, u.name);
  const bad = projectConfigProblem(u.config);
  if (bad) throw badRequest(bad);
  const cur = projectConfig(tx, r.id);
  const changed = new Set<string>();
  for (const k of new Set([...Object.keys(cur), ...Object.keys(u.config)])) {
    if ((cur[k] ?? "") !== (u.config[k] ?? "")) changed.add(k);
  }
  const features = [...changed].filter((k) => FEATURES.some((f) => k === `features.${f}`));
  if (features.length > 0) {
    if (r.id === 1) throw badRequest("You can't change the features of the default project");
    if (!isEmpty(tx, r)) {
      const f = features[0]!;
      throw badRequest(
        `Project feature "${f}" cannot be ${isTrue(cur[f]) ? "disabled" : "enabled"} on non-empty projects`,
      );
    }
  }
  // A limit lower than what the project holds now is refused (LXD's AllowProjectUpdate).
  const problem = limitsProblem(tx, { id: r.id, name: r.name }, u.config, "update");
  if (problem) throw badRequest(problem);
  tx.exec("UPDATE projects SET description = ? WHERE id = ?", u.description, r.id);
  writeConfig(tx, r.id, u.config);
  if (changed.has("features.profiles")) {
    if (isTrue(u.config["features.profiles"])) createDefaultProfile(tx, r.id, r.name);
    else tx.exec("DELETE FROM profiles WHERE project_id = ? AND name = 'default'", r.id);
  }
});

export const renameProject = defineTx("projects.rename", (tx, a: { name: string; newName: string }): void => {
  if (a.name === DEFAULT_PROJECT) throw forbidden("The 'default' project cannot be renamed");
  if (tx.get("SELECT id FROM projects WHERE name = ?", a.newName)) {
    throw conflict(`A project named "${a.newName}" already exists`);
  }
  const r = projectRow(tx, a.name);
  if (!isEmpty(tx, r)) throw badRequest("Only empty projects can be renamed");
  const bad = projectNameProblem(a.newName);
  if (bad) throw badRequest(bad);
  tx.exec("UPDATE projects SET name = ? WHERE id = ?", a.newName, r.id);
  tx.exec(
    "UPDATE profiles SET description = ? WHERE project_id = ? AND name = 'default' AND description = ?",
    `Default LXD profile for project ${a.newName}`,
    r.id,
    `Default LXD profile for project ${a.name}`,
  );
});

export const deleteProject = defineTx("projects.delete", (tx, a: { name: string }): void => {
  if (a.name === DEFAULT_PROJECT) throw forbidden("The 'default' project cannot be deleted");
  const r = projectRow(tx, a.name);
  if (!isEmpty(tx, r)) throw badRequest("Only empty projects can be removed");
  tx.exec("DELETE FROM projects WHERE id = ?", r.id);
});

// ---------------------------------------------------------------------------------------------
// Limits

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
function limitsProblem(
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
