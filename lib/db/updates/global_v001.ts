/**
 * Global schema version 1: server config, members, roles, groups, trust, operations, projects.
 * Table and column names follow LXD's cluster database, which users see through `sql global`.
 * No column defaults read the clock: defaults run on every member at apply time.
 */
export const globalV001 = `
CREATE TABLE config (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  key TEXT NOT NULL,
  value TEXT,
  UNIQUE (key)
);
CREATE TABLE nodes_failure_domains (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  name TEXT NOT NULL,
  UNIQUE (name)
);
CREATE TABLE nodes (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  name TEXT NOT NULL,
  description TEXT DEFAULT '',
  address TEXT NOT NULL,
  schema INTEGER NOT NULL,
  api_extensions INTEGER NOT NULL,
  heartbeat DATETIME,
  state INTEGER NOT NULL DEFAULT 0,
  arch INTEGER NOT NULL DEFAULT 0,
  failure_domain_id INTEGER DEFAULT NULL REFERENCES nodes_failure_domains (id) ON DELETE SET NULL,
  UNIQUE (name),
  UNIQUE (address)
);
CREATE TABLE nodes_roles (
  node_id INTEGER NOT NULL,
  role INTEGER NOT NULL,
  FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE,
  UNIQUE (node_id, role)
);
CREATE TABLE nodes_config (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  node_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE,
  UNIQUE (node_id, key)
);
CREATE TABLE cluster_groups (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  UNIQUE (name)
);
CREATE TABLE nodes_cluster_groups (
  node_id INTEGER NOT NULL,
  group_id INTEGER NOT NULL,
  FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE,
  FOREIGN KEY (group_id) REFERENCES cluster_groups (id) ON DELETE CASCADE,
  UNIQUE (node_id, group_id)
);
CREATE TABLE projects (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  name TEXT NOT NULL,
  description TEXT,
  UNIQUE (name)
);
CREATE TABLE certificates (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  fingerprint TEXT NOT NULL,
  type INTEGER NOT NULL,
  name TEXT NOT NULL,
  certificate TEXT NOT NULL,
  restricted INTEGER NOT NULL DEFAULT 0,
  UNIQUE (fingerprint)
);
CREATE TABLE certificates_projects (
  certificate_id INTEGER NOT NULL,
  project_id INTEGER NOT NULL,
  FOREIGN KEY (certificate_id) REFERENCES certificates (id) ON DELETE CASCADE,
  FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE,
  UNIQUE (certificate_id, project_id)
);
CREATE TABLE operations (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  uuid TEXT NOT NULL,
  node_id INTEGER NOT NULL,
  type INTEGER NOT NULL DEFAULT 0,
  project_id INTEGER,
  UNIQUE (uuid),
  FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE,
  FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
);
INSERT INTO projects (id, name, description) VALUES (1, 'default', 'Default LXD project');
INSERT INTO cluster_groups (id, name, description) VALUES (1, 'default', 'Default cluster group');
`;
