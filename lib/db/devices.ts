import type { ReadTx, Tx } from "./tx.ts";

/** A device: its config, `type` included, as LXD's API shows it (the wire type). */
export type { Devices } from "../wire/instances.ts";
import type { Devices } from "../wire/instances.ts";

/** LXD's device type codes (db/devices.go). */
export const DEVICE_TYPES: Record<string, number> = {
  none: 0,
  nic: 1,
  disk: 2,
  "unix-char": 3,
  "unix-block": 4,
  usb: 5,
  gpu: 6,
  infiniband: 7,
  proxy: 8,
  "unix-hotplug": 9,
  tpm: 10,
  pci: 11,
};
const TYPE_NAMES = Object.fromEntries(Object.entries(DEVICE_TYPES).map(([k, v]) => [v, k]));

/** The owners of devices; table names are fixed here, never taken from input. */
const OWNERS = {
  profile: {
    devices: "profiles_devices",
    config: "profiles_devices_config",
    fk: "profile_device_id",
    owner: "profile_id",
  },
  instance: {
    devices: "instances_devices",
    config: "instances_devices_config",
    fk: "instance_device_id",
    owner: "instance_id",
  },
  snapshot: {
    devices: "instances_snapshots_devices",
    config: "instances_snapshots_devices_config",
    fk: "instance_snapshot_device_id",
    owner: "instance_snapshot_id",
  },
} as const;
export type DeviceOwner = keyof typeof OWNERS;

/** Reads the devices of a profile or instance. */
export function readDevices(tx: ReadTx, owner: DeviceOwner, id: number): Devices {
  const t = OWNERS[owner];
  const out: Devices = {};
  const rows = tx.query<{ id: number; name: string; type: number }>(
    `SELECT id, name, type FROM ${t.devices} WHERE ${t.owner} = ? ORDER BY name`,
    id,
  );
  for (const d of rows) {
    const dev: Record<string, string> = { type: TYPE_NAMES[d.type] ?? "none" };
    for (
      const c of tx.query<{ key: string; value: string }>(
        `SELECT key, value FROM ${t.config} WHERE ${t.fk} = ? ORDER BY key`,
        d.id,
      )
    ) dev[c.key] = c.value ?? "";
    out[d.name] = Object.fromEntries(Object.keys(dev).sort().map((k) => [k, dev[k]!]));
  }
  return out;
}

/** Replaces the devices of a profile or instance. */
export function writeDevices(tx: Tx, owner: DeviceOwner, id: number, devices: Devices): void {
  const t = OWNERS[owner];
  tx.exec(`DELETE FROM ${t.devices} WHERE ${t.owner} = ?`, id);
  for (const [name, dev] of Object.entries(devices)) {
    const { lastInsertRowid: devId } = tx.exec(
      `INSERT INTO ${t.devices} (${t.owner}, name, type) VALUES (?, ?, ?)`,
      id,
      name,
      DEVICE_TYPES[dev.type ?? "none"] ?? 0,
    );
    for (const [k, v] of Object.entries(dev)) {
      if (k === "type") continue;
      tx.exec(`INSERT INTO ${t.config} (${t.fk}, key, value) VALUES (?, ?, ?)`, devId, k, String(v));
    }
  }
}

/** Checks a devices object from a request: names to maps of strings with a known type. */
export function checkDevices(devices: unknown): string | null {
  if (devices === undefined || devices === null) return null;
  if (typeof devices !== "object" || Array.isArray(devices)) return "Invalid devices: expected an object";
  for (const [name, dev] of Object.entries(devices as Record<string, unknown>)) {
    if (typeof dev !== "object" || dev === null || Array.isArray(dev)) {
      return `Invalid device "${name}": expected an object`;
    }
    const type = (dev as Record<string, unknown>).type;
    if (typeof type !== "string" || type === "") {
      return `Device validation failed for "${name}": Missing device type`;
    }
    if (!(type in DEVICE_TYPES)) return `Device validation failed for "${name}": Unsupported device type`;
  }
  return null;
}

/** The id of a member's nodes row by its name; standalone, the "none" row (id 1). */
export function nodeIdOf(tx: ReadTx, member: string): number {
  const r = tx.get<{ id: number }>("SELECT id FROM nodes WHERE name = ?", member);
  if (r) return r.id;
  const only = tx.query<{ id: number }>("SELECT id FROM nodes LIMIT 2");
  if (only.length === 1) return only[0]!.id;
  throw new Error(`Cluster member "${member}" has no row in the nodes table`);
}

/** Reads key/value rows into an object. */
export function readConfig(tx: ReadTx, sql: string, id: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of tx.query<{ key: string; value: string | null }>(sql, id)) out[r.key] = r.value ?? "";
  return out;
}
