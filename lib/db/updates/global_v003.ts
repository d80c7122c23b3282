/**
 * Global schema version 3: managed networks, with LXD's table and column names. A network's
 * global keys have node_id NULL; a member's own keys (bridge.external_interfaces) its node_id.
 * networks_nodes holds each member's state (pending until the cluster-wide create).
 */
export const globalV003 = `
CREATE TABLE networks (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  project_id INTEGER NOT NULL DEFAULT 1,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  state INTEGER NOT NULL DEFAULT 0,
  type INTEGER NOT NULL DEFAULT 0,
  UNIQUE (project_id, name),
  FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
);
CREATE TABLE networks_nodes (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  network_id INTEGER NOT NULL,
  node_id INTEGER NOT NULL,
  state INTEGER NOT NULL DEFAULT 0,
  UNIQUE (network_id, node_id),
  FOREIGN KEY (network_id) REFERENCES networks (id) ON DELETE CASCADE,
  FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE
);
CREATE TABLE networks_config (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  network_id INTEGER NOT NULL,
  node_id INTEGER,
  key TEXT NOT NULL,
  value TEXT,
  UNIQUE (network_id, node_id, key),
  FOREIGN KEY (network_id) REFERENCES networks (id) ON DELETE CASCADE,
  FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE
);
`;
