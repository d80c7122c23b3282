/**
 * Global schema version 4: project configuration (features.*, limits.*, restricted.*), with
 * LXD's table name. The default project has every feature, as in LXD.
 */
export const globalV004 = `
CREATE TABLE projects_config (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  project_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT,
  FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE,
  UNIQUE (project_id, key)
);
INSERT INTO projects_config (project_id, key, value) VALUES (1, 'features.images', 'true');
INSERT INTO projects_config (project_id, key, value) VALUES (1, 'features.profiles', 'true');
INSERT INTO projects_config (project_id, key, value) VALUES (1, 'features.storage.volumes', 'true');
INSERT INTO projects_config (project_id, key, value) VALUES (1, 'features.networks', 'true');
`;
