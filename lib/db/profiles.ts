import { conflict, forbidden, notFound } from "../util/mod.ts";
import { type Devices, readConfig, readDevices, writeDevices } from "./devices.ts";
import { checkProjectLimits } from "./project_limits.ts";
import { DEFAULT_PROJECT, featureProject, projectUrl } from "./project_rows.ts";
import { defineTx, type ReadTx } from "./tx.ts";

/** A profile as stored. */
export interface ProfileRecord {
  id: number;
  name: string;
  description: string;
  config: Record<string, string>;
  devices: Devices;
  /** Instances that use it, as /1.0/instances/NAME URLs (?project= outside default). */
  used_by: string[];
}

function toRecord(tx: ReadTx, r: { id: number; name: string; description: string }): ProfileRecord {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    config: readConfig(tx, "SELECT key, value FROM profiles_config WHERE profile_id = ? ORDER BY key", r.id),
    devices: readDevices(tx, "profile", r.id),
    // A profile of the default project is also used by projects without features.profiles.
    used_by: tx.query<{ name: string; project: string }>(
      `SELECT instances.name, projects.name AS project FROM instances_profiles
         JOIN instances ON instances.id = instance_id JOIN projects ON projects.id = instances.project_id
        WHERE profile_id = ? ORDER BY projects.name, instances.name`,
      r.id,
    ).map((x) => projectUrl(`/1.0/instances/${x.name}`, x.project)),
  };
}

/** Every profile a project sees: its own, or default's when it has no features.profiles. */
export function listProfiles(tx: ReadTx, project = DEFAULT_PROJECT): ProfileRecord[] {
  return tx.query<{ id: number; name: string; description: string }>(
    "SELECT id, name, description FROM profiles WHERE project_id = ? ORDER BY name",
    featureProject(tx, project, "profiles").id,
  ).map((r) => toRecord(tx, r));
}

/** A profile by name as a project sees it; 404 "Profile not found" otherwise. */
export function getProfile(tx: ReadTx, name: string, project = DEFAULT_PROJECT): ProfileRecord {
  const r = tx.get<{ id: number; name: string; description: string }>(
    "SELECT id, name, description FROM profiles WHERE project_id = ? AND name = ?",
    featureProject(tx, project, "profiles").id,
    name,
  );
  if (!r) throw notFound("Profile not found");
  return toRecord(tx, r);
}

/** A profile's writable part. */
export interface ProfilePut {
  name: string;
  description: string;
  config: Record<string, string>;
  devices: Devices;
  /** The project the request named (default: "default"). */
  project?: string;
}

function profileId(tx: ReadTx, name: string, project: string): number | undefined {
  return tx.get<{ id: number }>(
    "SELECT id FROM profiles WHERE project_id = ? AND name = ?",
    featureProject(tx, project, "profiles").id,
    name,
  )?.id;
}

export const createProfile = defineTx("profiles.create", (tx, p: ProfilePut): void => {
  const pid = featureProject(tx, p.project ?? DEFAULT_PROJECT, "profiles").id;
  if (profileId(tx, p.name, p.project ?? DEFAULT_PROJECT) !== undefined) {
    throw conflict(`Error inserting "${p.name}" into database: The profile already exists`);
  }
  const { lastInsertRowid: id } = tx.exec(
    "INSERT INTO profiles (name, description, project_id) VALUES (?, ?, ?)",
    p.name,
    p.description,
    pid,
  );
  writeProfile(tx, id, p);
});

function writeProfile(tx: Parameters<typeof writeDevices>[0], id: number, p: ProfilePut): void {
  tx.exec("UPDATE profiles SET description = ? WHERE id = ?", p.description, id);
  tx.exec("DELETE FROM profiles_config WHERE profile_id = ?", id);
  for (const [k, v] of Object.entries(p.config)) {
    tx.exec("INSERT INTO profiles_config (profile_id, key, value) VALUES (?, ?, ?)", id, k, v);
  }
  writeDevices(tx, "profile", id, p.devices);
}

/** Replaces a profile's description, config and devices. */
export const updateProfile = defineTx("profiles.update", (tx, p: ProfilePut): void => {
  const id = profileId(tx, p.name, p.project ?? DEFAULT_PROJECT);
  if (id === undefined) throw notFound("Profile not found");
  writeProfile(tx, id, p);
  // What the profile now gives its instances counts against their projects' limits.
  for (
    const r of tx.query<{ name: string }>(
      `SELECT DISTINCT projects.name FROM instances_profiles JOIN instances ON instances.id = instance_id
         JOIN projects ON projects.id = instances.project_id WHERE profile_id = ?`,
      id,
    )
  ) checkProjectLimits(tx, r.name);
});

export const deleteProfile = defineTx(
  "profiles.delete",
  (tx, a: { name: string; project?: string }): void => {
    if (a.name === "default") throw forbidden('The "default" profile cannot be deleted');
    const id = profileId(tx, a.name, a.project ?? DEFAULT_PROJECT);
    if (id === undefined) throw notFound("Profile not found");
    if (tx.get("SELECT id FROM instances_profiles WHERE profile_id = ? LIMIT 1", id)) {
      throw conflict("Profile is currently in use");
    }
    tx.exec("DELETE FROM profiles WHERE id = ?", id);
  },
);
