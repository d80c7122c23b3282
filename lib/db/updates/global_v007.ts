/**
 * Global schema version 7: instance snapshots, with LXD's tables (lxd/db/cluster/update.go): a
 * snapshot keeps the instance's config and devices as they were; its files are in the pool of
 * the instance's member (containers-snapshots/INSTANCE/NAME).
 */
export const globalV007 = `
CREATE TABLE instances_snapshots (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  instance_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  creation_date DATETIME NOT NULL DEFAULT 0,
  stateful INTEGER NOT NULL DEFAULT 0,
  description TEXT,
  expiry_date DATETIME,
  UNIQUE (instance_id, name),
  FOREIGN KEY (instance_id) REFERENCES instances (id) ON DELETE CASCADE
);
CREATE TABLE instances_snapshots_config (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  instance_snapshot_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  FOREIGN KEY (instance_snapshot_id) REFERENCES instances_snapshots (id) ON DELETE CASCADE,
  UNIQUE (instance_snapshot_id, key)
);
CREATE TABLE instances_snapshots_devices (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  instance_snapshot_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  type INTEGER NOT NULL DEFAULT 0,
  FOREIGN KEY (instance_snapshot_id) REFERENCES instances_snapshots (id) ON DELETE CASCADE,
  UNIQUE (instance_snapshot_id, name)
);
CREATE TABLE instances_snapshots_devices_config (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  instance_snapshot_device_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  FOREIGN KEY (instance_snapshot_device_id) REFERENCES instances_snapshots_devices (id) ON DELETE CASCADE,
  UNIQUE (instance_snapshot_device_id, key)
);
`;
