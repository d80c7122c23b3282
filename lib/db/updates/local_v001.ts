/**
 * Local schema version 1: this member's own settings and its view of the Raft configuration,
 * which must not depend on reaching the cluster (LXD's node database).
 */
export const localV001 = `
CREATE TABLE config (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  key TEXT NOT NULL,
  value TEXT,
  UNIQUE (key)
);
CREATE TABLE raft_nodes (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  address TEXT NOT NULL,
  role INTEGER NOT NULL DEFAULT 0,
  name TEXT NOT NULL DEFAULT '',
  UNIQUE (address)
);
CREATE TABLE patches (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  name TEXT NOT NULL,
  applied_at DATETIME NOT NULL,
  UNIQUE (name)
);
`;
