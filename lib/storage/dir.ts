import { badRequest, checkName } from "../util/mod.ts";

/** What a storage driver does for this member's instances. */
export interface StorageDriver {
  readonly name: string;
  /** Where the pool lives on this member: what its `source` key records once created. */
  readonly path: string;
  /** Creates the pool's directories; idempotent (a restart or a second member). */
  create(): Promise<void>;
  /** Removes the pool's directories when they hold nothing. */
  delete(): Promise<void>;
  /** The directory of an instance's volume (its rootfs is `rootfs/` inside). */
  containerPath(instance: string): string;
  createContainerVolume(instance: string): Promise<string>;
  deleteContainerVolume(instance: string): Promise<void>;
  /** The directory of a custom volume (what a disk device mounts). */
  customPath(volume: string): string;
  createCustomVolume(volume: string): Promise<string>;
  renameCustomVolume(from: string, to: string): Promise<void>;
  deleteCustomVolume(volume: string): Promise<void>;
}

/** Drivers shoal has; LXD's text for the rest. */
export const SUPPORTED_DRIVERS = ["dir"] as const;

/** A pool as the drivers need it: its name, driver and this member's config. */
export interface PoolSpec {
  name: string;
  driver: string;
  config: Record<string, string>;
}

/** The driver of a pool on this member ($SHOAL_DIR/storage-pools is poolsDir). */
export function openPool(p: PoolSpec, poolsDir: string): StorageDriver {
  if (p.driver !== "dir") throw badRequest(`Storage pool driver "${p.driver}" is not supported`);
  return new DirPool(p.name, poolsDir, p.config.source);
}

/** Checks a pool's driver and config before anything is written. */
export function validatePool(driver: string, config: Record<string, string>): void {
  if (!(SUPPORTED_DRIVERS as readonly string[]).includes(driver)) {
    throw badRequest(`Storage pool driver "${driver}" is not supported`);
  }
  for (const k of Object.keys(config)) {
    if (
      !["source", "size", "volume.size", "rsync.bwlimit", "rsync.compression"].includes(k) &&
      !k.startsWith("user.")
    ) {
      throw badRequest(`Invalid option for storage pool driver "${driver}": ${k}`);
    }
  }
  if (config.source !== undefined && config.source !== "" && !config.source.startsWith("/")) {
    throw badRequest(`Storage pool source must be an absolute path: "${config.source}"`);
  }
}

/**
 * LXD's `dir` driver: a pool is a directory ($SHOAL_DIR/storage-pools/NAME unless `source`
 * names another), an instance volume is containers/NAME inside it.
 */
export class DirPool implements StorageDriver {
  readonly name: string;
  readonly path: string;
  constructor(name: string, poolsDir: string, source?: string) {
    // Never a path outside poolsDir from the name ("..", "a/b"): a pool's delete removes its tree.
    checkName("pool", name);
    this.name = name;
    this.path = source && source !== "" ? source : `${poolsDir}/${name}`;
  }

  async create(): Promise<void> {
    for (const d of ["containers", "images", "custom"]) {
      await Deno.mkdir(`${this.path}/${d}`, { recursive: true, mode: 0o711 });
    }
  }

  async delete(): Promise<void> {
    for (const d of ["containers", "images", "custom"]) {
      await Deno.remove(`${this.path}/${d}`).catch(() => {});
    }
    await Deno.remove(this.path).catch(() => {});
  }

  containerPath(instance: string): string {
    return `${this.path}/containers/${instance}`;
  }

  async createContainerVolume(instance: string): Promise<string> {
    const p = this.containerPath(instance);
    await Deno.mkdir(`${this.path}/containers`, { recursive: true, mode: 0o711 });
    await Deno.mkdir(p, { mode: 0o100 });
    return p;
  }

  async deleteContainerVolume(instance: string): Promise<void> {
    await Deno.remove(this.containerPath(instance), { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }

  /** LXD's layout: custom/<project>_<name>. */
  customPath(volume: string): string {
    return `${this.path}/custom/default_${volume}`;
  }

  async createCustomVolume(volume: string): Promise<string> {
    const p = this.customPath(volume);
    await Deno.mkdir(`${this.path}/custom`, { recursive: true, mode: 0o711 });
    // A volume is a filesystem for containers to share: its root is open as an empty fs's is.
    await Deno.mkdir(p, { mode: 0o711 });
    return p;
  }

  async renameCustomVolume(from: string, to: string): Promise<void> {
    await Deno.rename(this.customPath(from), this.customPath(to));
  }

  async deleteCustomVolume(volume: string): Promise<void> {
    await Deno.remove(this.customPath(volume), { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
}
