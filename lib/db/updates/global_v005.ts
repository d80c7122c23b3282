/**
 * Global schema version 5: placement reservations. A member that chooses where a new instance
 * goes records its choice in the same transaction that reads every member's count, so that
 * launches placed at once through different members see each other's choices before the
 * instances' rows exist (30 parallel launches on 3 members spread 10/10/10). A reservation ends
 * when its creation does, or at expires_at if the member that made it died first.
 */
export const globalV005 = `
CREATE TABLE instances_placements (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  node_id INTEGER NOT NULL,
  project TEXT NOT NULL,
  name TEXT NOT NULL,
  expires_at DATETIME NOT NULL,
  FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE
);
`;
