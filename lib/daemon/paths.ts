/** The layout of $SHOAL_DIR, as LXD lays out LXD_DIR. */
export interface StatePaths {
  dir: string;
  socket: string;
  database: string;
  localDb: string;
  globalDir: string;
  globalDb: string;
  containers: string;
  images: string;
  storagePools: string;
  networks: string;
  logs: string;
  logFile: string;
}

/** The state directory: $SHOAL_DIR, or /var/lib/shoal. */
export function stateDir(): string {
  return Deno.env.get("SHOAL_DIR") || "/var/lib/shoal";
}

/** Paths under a state directory. */
export function statePaths(dir: string = stateDir()): StatePaths {
  const d = dir.replace(/\/+$/, "") || "/";
  return {
    dir: d,
    socket: `${d}/unix.socket`,
    database: `${d}/database`,
    localDb: `${d}/database/local.db`,
    globalDir: `${d}/database/global`,
    globalDb: `${d}/database/global/db.sqlite`,
    containers: `${d}/containers`,
    images: `${d}/images`,
    storagePools: `${d}/storage-pools`,
    networks: `${d}/networks`,
    logs: `${d}/logs`,
    logFile: `${d}/logs/shoald.log`,
  };
}

/**
 * Creates the directories of the layout, with LXD's modes: LXD_DIR and what containers must
 * cross 0711; the database and the logs 0700 (they hold the trust store and the Raft log). The
 * modes are set on directories that exist already too.
 */
export function ensureLayout(p: StatePaths): void {
  const dirs: [string, number][] = [
    [p.dir, 0o711],
    [p.database, 0o700],
    [p.globalDir, 0o700],
    [p.containers, 0o711],
    [p.images, 0o700],
    [p.storagePools, 0o711],
    [p.logs, 0o700],
  ];
  for (const [d, mode] of dirs) {
    Deno.mkdirSync(d, { recursive: true, mode });
    Deno.chmodSync(d, mode);
  }
}
