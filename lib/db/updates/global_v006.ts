/**
 * Global schema version 6: warnings, with LXD's table (lxd/db/cluster/update.go): what a member
 * noticed and an operator should see (`lxc warning list`), kept cluster-wide so that any member
 * lists every member's. node_id NULL: a warning of no member; entity_type_code and entity_id
 * name what it is about (-1: nothing).
 */
export const globalV006 = `
CREATE TABLE warnings (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  node_id INTEGER,
  project_id INTEGER,
  entity_type_code INTEGER,
  entity_id INTEGER,
  uuid TEXT NOT NULL,
  type_code INTEGER NOT NULL,
  status INTEGER NOT NULL,
  first_seen_date DATETIME NOT NULL,
  last_seen_date DATETIME NOT NULL,
  updated_date DATETIME,
  last_message TEXT NOT NULL,
  count INTEGER NOT NULL,
  UNIQUE (uuid),
  FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE,
  FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
);
`;
