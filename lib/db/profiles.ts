import { conflict, forbidden, notFound } from "../util/mod.ts";
import { type Devices, readConfig, readDevices, writeDevices } from "./devices.ts";
import { defineTx, type ReadTx } from "./tx.ts";

/** A profile as stored. */
export interface ProfileRecord {
  id: number;
  name: string;
  description: string;
  config: Record<string, string>;
  devices: Devices;
  /** Instances that use it, as /1.0/instances/NAME URLs. */
  used_by: string[];
}

function toRecord(tx: ReadTx, r: { id: number; name: string; description: string }): ProfileRecord {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    config: readConfig(tx, "SELECT key, value FROM profiles_config WHERE profile_id = ? ORDER BY key", r.id),
    devices: readDevices(tx, "profile", r.id),
    used_by: tx.query<{ name: string }>(
      "SELECT instances.name FROM instances_profiles JOIN instances ON instances.id = instance_id WHERE profile_id = ? ORDER BY instances.name",
      r.id,
    ).map((x) => `/1.0/instances/${x.name}`),
  };
}

/** Every profile of the default project. */
export function listProfiles(tx: ReadTx): ProfileRecord[] {
  return tx.query<{ id: number; name: string; description: string }>(
    "SELECT id, name, description FROM profiles WHERE project_id = 1 ORDER BY name",
  ).map((r) => toRecord(tx, r));
}

/** A profile by name; 404 "Profile not found" otherwise. */
export function getProfile(tx: ReadTx, name: string): ProfileRecord {
  const r = tx.get<{ id: number; name: string; description: string }>(
    "SELECT id, name, description FROM profiles WHERE project_id = 1 AND name = ?",
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
}

export const createProfile = defineTx("profiles.create", (tx, p: ProfilePut): void => {
  if (tx.get("SELECT id FROM profiles WHERE project_id = 1 AND name = ?", p.name)) {
    throw conflict(`Error inserting "${p.name}" into database: The profile already exists`);
  }
  const { lastInsertRowid: id } = tx.exec(
    "INSERT INTO profiles (name, description, project_id) VALUES (?, ?, 1)",
    p.name,
    p.description,
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
  const r = tx.get<{ id: number }>("SELECT id FROM profiles WHERE project_id = 1 AND name = ?", p.name);
  if (!r) throw notFound("Profile not found");
  writeProfile(tx, r.id, p);
});

export const deleteProfile = defineTx("profiles.delete", (tx, a: { name: string }): void => {
  if (a.name === "default") throw forbidden('The "default" profile cannot be deleted');
  const r = tx.get<{ id: number }>("SELECT id FROM profiles WHERE project_id = 1 AND name = ?", a.name);
  if (!r) throw notFound("Profile not found");
  if (tx.get("SELECT id FROM instances_profiles WHERE profile_id = ? LIMIT 1", r.id)) {
    throw conflict("Profile is currently in use");
  }
  tx.exec("DELETE FROM profiles WHERE id = ?", r.id);
});
