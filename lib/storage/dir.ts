import { checkName, mustRun } from "../util/mod.ts";

/** What a storage driver does for this member's instances. */
export interface StorageDriver {
  readonly name: string;
  /** Where the pool's volumes are seen on this member. */
  readonly path: string;
  /** The member-specific keys a created pool records here (its `source`, resolved). */
  ownConfig(): Record<string, string>;
  /** Creates the pool's directories; idempotent (a restart or a second member). */
  create(): Promise<void>;
  /** Makes a created pool usable after a restart (a btrfs loop file is mounted again). */
  mount(): Promise<void>;
  /** Removes the pool's directories when they hold nothing. */
  delete(): Promise<void>;
  /** The directory of an instance's volume (its rootfs is `rootfs/` inside). */
  containerPath(instance: string): string;
  createContainerVolume(instance: string): Promise<string>;
  deleteContainerVolume(instance: string): Promise<void>;
  /** Copies an instance's volume to a new instance's (btrfs: a snapshot; dir: a full copy). */
  copyContainerVolume(from: string, to: string): Promise<string>;
  /** Renames an instance's volume in place (a rename, and the last step of a move's arrival). */
  renameContainerVolume(from: string, to: string): Promise<void>;
  /** The directory of an instance's snapshot (LXD's containers-snapshots/INSTANCE/SNAP). */
  snapshotPath(instance: string, snap: string): string;
  /** Copies the instance's volume, as it is now, into a snapshot. */
  createSnapshot(instance: string, snap: string): Promise<void>;
  deleteSnapshot(instance: string, snap: string): Promise<void>;
  /** Every snapshot of an instance (its deletion). */
  deleteSnapshots(instance: string): Promise<void>;
  renameSnapshot(instance: string, from: string, to: string): Promise<void>;
  /** Replaces the instance's volume with the snapshot's content (the snapshot stays). */
  restoreSnapshot(instance: string, snap: string): Promise<void>;
  /** The directory of a custom volume (what a disk device mounts). */
  customPath(volume: string): string;
  createCustomVolume(volume: string): Promise<string>;
  renameCustomVolume(from: string, to: string): Promise<void>;
  deleteCustomVolume(volume: string): Promise<void>;
}

/** LXD's layout of snapshots in a pool: containers-snapshots/INSTANCE/SNAP. */
export function snapshotPath(pool: string, instance: string, snap: string): string {
  return `${pool}/containers-snapshots/${instance}/${snap}`;
}

function dirname(p: string): string {
  return p.slice(0, p.lastIndexOf("/"));
}

/** The directories of every pool, whatever its driver (LXD's layout). */
export const POOL_SUBDIRS = ["containers", "images", "custom"] as const;

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
    for (const d of POOL_SUBDIRS) {
      await Deno.mkdir(`${this.path}/${d}`, { recursive: true, mode: 0o711 });
    }
  }

  ownConfig(): Record<string, string> {
    return { source: this.path };
  }

  async mount(): Promise<void> {}

  async delete(): Promise<void> {
    for (const d of POOL_SUBDIRS) {
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

  /** A full copy, as LXD's dir driver makes it (rsync there; cp -a keeps owners, modes and links). */
  async copyContainerVolume(from: string, to: string): Promise<string> {
    const p = this.containerPath(to);
    await mustRun("Failed copying the instance's volume", "cp", ["-a", "--", this.containerPath(from), p]);
    return p;
  }

  async renameContainerVolume(from: string, to: string): Promise<void> {
    await Deno.rename(this.containerPath(from), this.containerPath(to));
  }

  snapshotPath(instance: string, snap: string): string {
    return snapshotPath(this.path, instance, snap);
  }

  /** A full copy, as LXD's dir driver makes one (rsync there). */
  async createSnapshot(instance: string, snap: string): Promise<void> {
    const p = this.snapshotPath(instance, snap);
    await Deno.mkdir(dirname(p), { recursive: true, mode: 0o700 });
    await mustRun("Failed creating the snapshot", "cp", ["-a", "--", this.containerPath(instance), p]);
  }

  async deleteSnapshot(instance: string, snap: string): Promise<void> {
    await Deno.remove(this.snapshotPath(instance, snap), { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    await Deno.remove(dirname(this.snapshotPath(instance, snap))).catch(() => {});
  }

  async deleteSnapshots(instance: string): Promise<void> {
    await Deno.remove(dirname(this.snapshotPath(instance, "x")), { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }

  async renameSnapshot(instance: string, from: string, to: string): Promise<void> {
    await Deno.rename(this.snapshotPath(instance, from), this.snapshotPath(instance, to));
  }

  /** The volume is set aside, the snapshot copied in its place, and only then the old one removed. */
  async restoreSnapshot(instance: string, snap: string): Promise<void> {
    const vol = this.containerPath(instance);
    const aside = `${vol}.restoring`;
    await Deno.remove(aside, { recursive: true }).catch(() => {});
    await Deno.rename(vol, aside);
    try {
      await mustRun("Failed restoring the snapshot", "cp", [
        "-a",
        "--",
        this.snapshotPath(instance, snap),
        vol,
      ]);
    } catch (e) {
      await Deno.remove(vol, { recursive: true }).catch(() => {});
      await Deno.rename(aside, vol);
      throw e;
    }
    await Deno.remove(aside, { recursive: true });
  }

  /** LXD's layout: custom/<project>_<name>, the name volumeKey (lib/db/volumes.ts) gives. */
  customPath(volume: string): string {
    return `${this.path}/custom/${volume}`;
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
