import { conflict, notFound } from "../util/mod.ts";
import { type Devices, nodeIdOf, readConfig, readDevices, writeDevices } from "./devices.ts";
import { ARCH_IDS } from "./nodes.ts";
import { checkProjectLimits } from "./project_limits.ts";
import { DEFAULT_PROJECT, featureProject, projectRow } from "./project_rows.ts";
import { defineTx, type ReadTx, type Tx } from "./tx.ts";

const ARCH_NAMES = Object.fromEntries(Object.entries(ARCH_IDS).map(([k, v]) => [v, k]));

/** An instance as stored (its own config and devices, not yet expanded with profiles). */
export interface InstanceRecord {
  id: number;
  name: string;
  architecture: string;
  type: "container" | "virtual-machine";
  ephemeral: boolean;
  stateful: boolean;
  description: string;
  created_at: string;
  last_used_at: string;
  /** The member the instance lives on. */
  location: string;
  project: string;
  profiles: string[];
  config: Record<string, string>;
  devices: Devices;
}

interface Row {
  id: number;
  name: string;
  architecture: number;
  type: number;
  ephemeral: number;
  stateful: number;
  description: string;
  creation_date: string;
  last_use_date: string | null;
  location: string;
  project: string;
}

const SELECT =
  `SELECT instances.id, instances.name, instances.architecture, instances.type, instances.ephemeral,
         instances.stateful, instances.description, instances.creation_date, instances.last_use_date,
         nodes.name AS location, projects.name AS project
    FROM instances JOIN nodes ON nodes.id = instances.node_id JOIN projects ON projects.id = instances.project_id`;

function toRecord(tx: ReadTx, r: Row): InstanceRecord {
  return {
    id: r.id,
    name: r.name,
    architecture: ARCH_NAMES[r.architecture] ?? "unknown",
    type: r.type === 1 ? "virtual-machine" : "container",
    ephemeral: r.ephemeral === 1,
    stateful: r.stateful === 1,
    description: r.description,
    created_at: r.creation_date,
    last_used_at: r.last_use_date ?? "1970-01-01T00:00:00Z",
    location: r.location,
    project: r.project,
    profiles: tx.query<{ name: string }>(
      "SELECT profiles.name FROM instances_profiles JOIN profiles ON profiles.id = profile_id WHERE instance_id = ? ORDER BY apply_order",
      r.id,
    ).map((x) => x.name),
    config: readConfig(
      tx,
      "SELECT key, value FROM instances_config WHERE instance_id = ? ORDER BY key",
      r.id,
    ),
    devices: readDevices(tx, "instance", r.id),
  };
}

/**
 * Every instance of a project (null: of every project), optionally only one member's. A
 * project that does not exist is 404 "Project not found".
 */
export function listInstances(
  tx: ReadTx,
  member?: string,
  project: string | null = DEFAULT_PROJECT,
): InstanceRecord[] {
  const pid = project === null ? null : projectRow(tx, project).id;
  const node = member === undefined ? null : nodeIdOf(tx, member);
  return tx.query<Row>(
    `${SELECT} WHERE (? IS NULL OR instances.project_id = ?) AND (? IS NULL OR instances.node_id = ?)
      ORDER BY projects.name, instances.name`,
    pid,
    pid,
    node,
    node,
  ).map((r) => toRecord(tx, r));
}

/**
 * The project and name of each instance a member holds, in one query: what fencing stops. A spare
 * keeps this fetched ahead (it fences when it cannot reach the leader, so cannot ask then), and
 * listInstances' records take three more queries per instance.
 */
export function instanceNamesOn(tx: ReadTx, member: string): { project: string; name: string }[] {
  return tx.query<{ project: string; name: string }>(
    `SELECT projects.name AS project, instances.name FROM instances
       JOIN projects ON projects.id = instances.project_id JOIN nodes ON nodes.id = instances.node_id
      WHERE nodes.name = ? ORDER BY projects.name, instances.name`,
    member,
  );
}

/** How many instances each member holds (all projects), by member id: what placement compares. */
export function instanceCountsByNode(tx: ReadTx): Map<number, number> {
  return new Map(
    tx.query<{ node_id: number; n: number }>("SELECT node_id, count(*) AS n FROM instances GROUP BY node_id")
      .map((r) => [r.node_id, r.n]),
  );
}

/** An instance by name in a project, or undefined (also when the project does not exist). */
export function findInstance(
  tx: ReadTx,
  name: string,
  project = DEFAULT_PROJECT,
): InstanceRecord | undefined {
  const r = tx.get<Row>(`${SELECT} WHERE projects.name = ? AND instances.name = ?`, project, name);
  return r ? toRecord(tx, r) : undefined;
}

/** An instance by name; 404 "Instance not found" otherwise (LXD's text). */
export function getInstance(tx: ReadTx, name: string, project = DEFAULT_PROJECT): InstanceRecord {
  projectRow(tx, project);
  const i = findInstance(tx, name, project);
  if (!i) throw notFound("Instance not found");
  return i;
}

/** What creating an instance stores. */
export interface NewInstance {
  name: string;
  architecture: string;
  type: "container" | "virtual-machine";
  ephemeral: boolean;
  description: string;
  profiles: string[];
  config: Record<string, string>;
  devices: Devices;
  member: string;
  /** The project (default: "default"). */
  project?: string;
}

/** The id of an instance by name in a project; 404 otherwise. */
function instanceId(tx: ReadTx, name: string, project: string): number {
  const r = tx.get<{ id: number }>(
    "SELECT id FROM instances WHERE project_id = ? AND name = ?",
    projectRow(tx, project).id,
    name,
  );
  if (!r) throw notFound("Instance not found");
  return r.id;
}

/** The profiles an instance uses come from its project, or default's (features.profiles). */
function writeProfiles(tx: Tx, id: number, profiles: string[], project: string): void {
  tx.exec("DELETE FROM instances_profiles WHERE instance_id = ?", id);
  const from = featureProject(tx, project, "profiles").id;
  profiles.forEach((p, i) => {
    const r = tx.get<{ id: number }>("SELECT id FROM profiles WHERE project_id = ? AND name = ?", from, p);
    if (!r) throw notFound(`Requested profile "${p}" doesn't exist`);
    tx.exec(
      "INSERT INTO instances_profiles (instance_id, profile_id, apply_order) VALUES (?, ?, ?)",
      id,
      r.id,
      i,
    );
  });
}

function writeConfig(tx: Tx, id: number, config: Record<string, string>): void {
  tx.exec("DELETE FROM instances_config WHERE instance_id = ?", id);
  for (const [k, v] of Object.entries(config)) {
    tx.exec("INSERT INTO instances_config (instance_id, key, value) VALUES (?, ?, ?)", id, k, v);
  }
}

/**
 * Creates the instance row; 409 `Instance "NAME" already exists` when the name is taken (LXD's
 * text). The project's limits and restrictions are checked in this same transaction, with the
 * new instance counted: of concurrent launches from any members, only those that fit commit.
 */
export const createInstance = defineTx("instances.create", (tx, i: NewInstance): number => {
  const project = i.project ?? DEFAULT_PROJECT;
  const pid = projectRow(tx, project).id;
  if (tx.get("SELECT id FROM instances WHERE project_id = ? AND name = ?", pid, i.name)) {
    throw conflict(`Instance "${i.name}" already exists`);
  }
  const { lastInsertRowid: id } = tx.exec(
    "INSERT INTO instances (node_id, name, architecture, type, ephemeral, creation_date, stateful, description, project_id) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
    nodeIdOf(tx, i.member),
    i.name,
    ARCH_IDS[i.architecture] ?? 0,
    i.type === "virtual-machine" ? 1 : 0,
    i.ephemeral ? 1 : 0,
    tx.now,
    i.description,
    pid,
  );
  writeProfiles(tx, id, i.profiles, project);
  writeConfig(tx, id, i.config);
  writeDevices(tx, "instance", id, i.devices);
  checkProjectLimits(tx, project);
  return id;
});

/** An instance's writable part (PUT /1.0/instances/NAME). */
export interface InstanceUpdate {
  name: string;
  description: string;
  ephemeral: boolean;
  profiles: string[];
  config: Record<string, string>;
  devices: Devices;
  project?: string;
}

/** Replaces an instance's writable part; the project's limits hold after it or nothing changes. */
export const updateInstance = defineTx("instances.update", (tx, u: InstanceUpdate): void => {
  const project = u.project ?? DEFAULT_PROJECT;
  const id = instanceId(tx, u.name, project);
  tx.exec(
    "UPDATE instances SET description = ?, ephemeral = ? WHERE id = ?",
    u.description,
    u.ephemeral ? 1 : 0,
    id,
  );
  writeProfiles(tx, id, u.profiles, project);
  writeConfig(tx, id, u.config);
  writeDevices(tx, "instance", id, u.devices);
  checkProjectLimits(tx, project);
});

/** Sets (or, with "", removes) config keys without touching the rest: volatile.* state. */
export const setInstanceKeys = defineTx(
  "instances.set-keys",
  (tx, a: { name: string; keys: Record<string, string>; used?: boolean; project?: string }): void => {
    const r = { id: instanceId(tx, a.name, a.project ?? DEFAULT_PROJECT) };
    for (const [k, v] of Object.entries(a.keys)) {
      if (v === "") tx.exec("DELETE FROM instances_config WHERE instance_id = ? AND key = ?", r.id, k);
      else {
        tx.exec(
          "INSERT INTO instances_config (instance_id, key, value) VALUES (?, ?, ?) ON CONFLICT (instance_id, key) DO UPDATE SET value = excluded.value",
          r.id,
          k,
          v,
        );
      }
    }
    if (a.used) tx.exec("UPDATE instances SET last_use_date = ? WHERE id = ?", tx.now, r.id);
  },
);

export const deleteInstance = defineTx(
  "instances.delete",
  (tx, a: { name: string; project?: string }): void => {
    tx.exec("DELETE FROM instances WHERE id = ?", instanceId(tx, a.name, a.project ?? DEFAULT_PROJECT));
  },
);

/** Records the instance's root volume in its pool (storage_volumes, type container). */
export const createInstanceVolume = defineTx(
  "storage-volumes.create-instance",
  (tx, a: { name: string; pool: string; member: string; project?: string }): void => {
    const p = tx.get<{ id: number }>("SELECT id FROM storage_pools WHERE name = ?", a.pool);
    if (!p) throw notFound("Storage pool not found");
    tx.exec(
      "INSERT INTO storage_volumes (name, storage_pool_id, node_id, type, description, project_id, content_type, creation_date) VALUES (?, ?, ?, 0, '', ?, 0, ?)",
      a.name,
      p.id,
      nodeIdOf(tx, a.member),
      projectRow(tx, a.project ?? DEFAULT_PROJECT).id,
      tx.now,
    );
  },
);

export const deleteInstanceVolume = defineTx(
  "storage-volumes.delete-instance",
  (tx, a: { name: string; pool: string; project?: string }): void => {
    tx.exec(
      "DELETE FROM storage_volumes WHERE type = 0 AND project_id = (SELECT id FROM projects WHERE name = ?) AND name = ? AND storage_pool_id = (SELECT id FROM storage_pools WHERE name = ?)",
      a.project ?? DEFAULT_PROJECT,
      a.name,
      a.pool,
    );
  },
);
