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

/** Creates the directories of the layout (0711 like LXD_DIR; logs 0700). */
export function ensureLayout(p: StatePaths): void {
  Deno.mkdirSync(p.dir, { recursive: true, mode: 0o711 });
  for (const d of [p.database, p.globalDir, p.containers, p.images, p.storagePools, p.networks]) {
    Deno.mkdirSync(d, { recursive: true, mode: 0o711 });
  }
  Deno.mkdirSync(p.logs, { recursive: true, mode: 0o700 });
}
