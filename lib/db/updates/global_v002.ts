/**
 * Global schema version 2: images, storage pools and volumes, profiles and instances, with
 * LXD's table and column names (users see them through `sql global`). Per-member rows point at
 * nodes(id): the standalone member is the "none" row with id 1, as in LXD.
 */
export const globalV002 = `
CREATE TABLE images (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  fingerprint TEXT NOT NULL,
  filename TEXT NOT NULL,
  size INTEGER NOT NULL,
  public INTEGER NOT NULL DEFAULT 0,
  architecture INTEGER NOT NULL,
  creation_date DATETIME,
  expiry_date DATETIME,
  upload_date DATETIME NOT NULL,
  cached INTEGER NOT NULL DEFAULT 0,
  last_use_date DATETIME,
  auto_update INTEGER NOT NULL DEFAULT 0,
  project_id INTEGER NOT NULL,
  type INTEGER NOT NULL DEFAULT 0,
  UNIQUE (project_id, fingerprint),
  FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
);
CREATE TABLE images_aliases (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  name TEXT NOT NULL,
  image_id INTEGER NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  project_id INTEGER NOT NULL,
  UNIQUE (project_id, name),
  FOREIGN KEY (image_id) REFERENCES images (id) ON DELETE CASCADE,
  FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
);
CREATE TABLE images_nodes (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  image_id INTEGER NOT NULL,
  node_id INTEGER NOT NULL,
  UNIQUE (image_id, node_id),
  FOREIGN KEY (image_id) REFERENCES images (id) ON DELETE CASCADE,
  FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE
);
CREATE TABLE images_properties (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  image_id INTEGER NOT NULL,
  type INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT,
  UNIQUE (image_id, key),
  FOREIGN KEY (image_id) REFERENCES images (id) ON DELETE CASCADE
);
CREATE TABLE storage_pools (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  name TEXT NOT NULL,
  driver TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  state INTEGER NOT NULL DEFAULT 0,
  UNIQUE (name)
);
CREATE TABLE storage_pools_config (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  storage_pool_id INTEGER NOT NULL,
  node_id INTEGER,
  key TEXT NOT NULL,
  value TEXT,
  UNIQUE (storage_pool_id, node_id, key),
  FOREIGN KEY (storage_pool_id) REFERENCES storage_pools (id) ON DELETE CASCADE,
  FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE
);
CREATE TABLE storage_pools_nodes (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  storage_pool_id INTEGER NOT NULL,
  node_id INTEGER NOT NULL,
  state INTEGER NOT NULL DEFAULT 0,
  UNIQUE (storage_pool_id, node_id),
  FOREIGN KEY (storage_pool_id) REFERENCES storage_pools (id) ON DELETE CASCADE,
  FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE
);
CREATE TABLE storage_volumes (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  name TEXT NOT NULL,
  storage_pool_id INTEGER NOT NULL,
  node_id INTEGER,
  type INTEGER NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  project_id INTEGER NOT NULL,
  content_type INTEGER NOT NULL DEFAULT 0,
  creation_date DATETIME NOT NULL,
  UNIQUE (storage_pool_id, node_id, project_id, name, type),
  FOREIGN KEY (storage_pool_id) REFERENCES storage_pools (id) ON DELETE CASCADE,
  FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE,
  FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
);
CREATE TABLE storage_volumes_config (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  storage_volume_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  UNIQUE (storage_volume_id, key),
  FOREIGN KEY (storage_volume_id) REFERENCES storage_volumes (id) ON DELETE CASCADE
);
CREATE TABLE profiles (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  project_id INTEGER NOT NULL,
  UNIQUE (project_id, name),
  FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
);
CREATE TABLE profiles_config (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  profile_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT,
  UNIQUE (profile_id, key),
  FOREIGN KEY (profile_id) REFERENCES profiles (id) ON DELETE CASCADE
);
CREATE TABLE profiles_devices (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  profile_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  type INTEGER NOT NULL DEFAULT 0,
  UNIQUE (profile_id, name),
  FOREIGN KEY (profile_id) REFERENCES profiles (id) ON DELETE CASCADE
);
CREATE TABLE profiles_devices_config (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  profile_device_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT,
  UNIQUE (profile_device_id, key),
  FOREIGN KEY (profile_device_id) REFERENCES profiles_devices (id) ON DELETE CASCADE
);
CREATE TABLE instances (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  node_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  architecture INTEGER NOT NULL,
  type INTEGER NOT NULL,
  ephemeral INTEGER NOT NULL DEFAULT 0,
  creation_date DATETIME NOT NULL,
  stateful INTEGER NOT NULL DEFAULT 0,
  last_use_date DATETIME,
  description TEXT NOT NULL DEFAULT '',
  project_id INTEGER NOT NULL,
  expiry_date DATETIME,
  UNIQUE (project_id, name),
  FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE,
  FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
);
CREATE TABLE instances_config (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  instance_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  UNIQUE (instance_id, key),
  FOREIGN KEY (instance_id) REFERENCES instances (id) ON DELETE CASCADE
);
CREATE TABLE instances_devices (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  instance_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  type INTEGER NOT NULL DEFAULT 0,
  UNIQUE (instance_id, name),
  FOREIGN KEY (instance_id) REFERENCES instances (id) ON DELETE CASCADE
);
CREATE TABLE instances_devices_config (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  instance_device_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  UNIQUE (instance_device_id, key),
  FOREIGN KEY (instance_device_id) REFERENCES instances_devices (id) ON DELETE CASCADE
);
CREATE TABLE instances_profiles (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  instance_id INTEGER NOT NULL,
  profile_id INTEGER NOT NULL,
  apply_order INTEGER NOT NULL DEFAULT 0,
  UNIQUE (instance_id, profile_id),
  FOREIGN KEY (instance_id) REFERENCES instances (id) ON DELETE CASCADE,
  FOREIGN KEY (profile_id) REFERENCES profiles (id) ON DELETE CASCADE
);
INSERT INTO profiles (id, name, description, project_id) VALUES (1, 'default', 'Default LXD profile', 1);
`;
