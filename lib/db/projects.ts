/**
 * Projects, LXD's unit of tenancy: their names, config keys, records and changes (create,
 * update, rename, delete). Where a project's resources live is in project_rows.ts; what it may
 * hold (limits.*) and do (restricted.*) in project_limits.ts, whose checks a change here runs.
 */
import { badRequest, conflict, forbidden, parseSize } from "../util/mod.ts";
import { limitsProblem } from "./project_limits.ts";
import {
  DEFAULT_PROJECT,
  type Feature,
  FEATURES,
  isTrue,
  projectConfig,
  type ProjectRow,
  projectRow,
  projectUrl,
  projectUsedBy,
} from "./project_rows.ts";
import { defineTx, type ReadTx, type Tx } from "./tx.ts";

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

function toRecord(tx: ReadTx, r: ProjectRow): ProjectRecord {
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
  return tx.query<ProjectRow>("SELECT id, name, description FROM projects ORDER BY name").map((r) =>
    toRecord(tx, r)
  );
}

/** A project by name; 404 "Project not found". */
export function getProject(tx: ReadTx, name: string): ProjectRecord {
  return toRecord(tx, projectRow(tx, name));
}

/** Empty as LXD counts it: nothing but its own default profile. */
function isEmpty(tx: ReadTx, r: ProjectRow): boolean {
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
