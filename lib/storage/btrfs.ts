/**
 * LXD's `btrfs` driver: a pool is a btrfs filesystem (a loop file the driver makes when `source`
 * is empty, a block device it formats, or a directory on btrfs, made a subvolume), and every
 * instance and custom volume is a subvolume, so that a copy is an instant snapshot.
 */
import { badRequest, checkName, errorMessage, mustRun, runTool } from "../util/mod.ts";
import { POOL_SUBDIRS, snapshotPath, type StorageDriver } from "./dir.ts";

/** The tools the driver runs; LXD checks the same before it touches anything. */
const TOOLS = ["btrfs", "mkfs.btrfs"] as const;

/** The loop file's size when `size` is not given (LXD picks 5-30 GiB from free space; sparse). */
const DEFAULT_LOOP_SIZE = "5GiB";

/** Where a program is on PATH, or null. */
async function inPath(cmd: string): Promise<string | null> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    const p = `${dir}/${cmd}`;
    const st = await Deno.stat(p).catch(() => null);
    if (st?.isFile && (st.mode ?? 0) & 0o111) return p;
  }
  return null;
}

/** LXD's refusal when a driver's tool is missing (checked before anything is made). */
export async function requireTools(tools: readonly string[]): Promise<void> {
  for (const t of tools) {
    if (await inPath(t) === null) throw badRequest(`Required tool "${t}" is missing`);
  }
}

/** "5GiB", "500MB", "1073741824" as bytes; LXD's units. */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGTPE]i?B|B)?$/i.exec(s.trim());
  if (!m) throw badRequest(`Invalid size "${s}": use a number of bytes or units like 5GiB`);
  const unit = (m[2] ?? "B").toUpperCase();
  const pow = "BKMGTPE".indexOf(unit[0]!);
  const base = unit.includes("I") ? 1024 : 1000;
  return Math.floor(Number(m[1]) * base ** (unit === "B" ? 0 : pow));
}

/** Whether path is mounted in this process's mount namespace. */
async function isMounted(path: string): Promise<boolean> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  // Field 5 is the mount point, with spaces and the like octal-escaped.
  const esc = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
  return info.split("\n").some((l) => l.split(" ")[4] === esc);
}

/** Whether path is a btrfs subvolume (its root has inode 256 on btrfs). */
async function isSubvolume(path: string): Promise<boolean> {
  const st = await Deno.stat(path).catch(() => null);
  if (!st?.isDirectory || st.ino !== 256) return false;
  return (await runTool("stat", ["-f", "-c", "%T", path])).stdout.trim() === "btrfs";
}

async function fsType(path: string): Promise<string> {
  return (await runTool("stat", ["-f", "-c", "%T", path])).stdout.trim();
}

/** Removes a volume: a subvolume with `btrfs subvolume delete`, anything else as a tree. */
async function removeVolume(path: string): Promise<void> {
  if (!await Deno.stat(path).then(() => true, () => false)) return;
  if (await isSubvolume(path)) {
    await mustRun("Failed deleting btrfs subvolume", "btrfs", ["subvolume", "delete", path]);
    return;
  }
  await Deno.remove(path, { recursive: true });
}

/** How a pool's `source` is used. */
type Backing = { kind: "loop"; file: string } | { kind: "block"; device: string } | {
  kind: "dir";
  dir: string;
};

export class BtrfsPool implements StorageDriver {
  readonly name: string;
  /** Where the pool's filesystem is seen: the mount point, or the directory source itself. */
  readonly path: string;
  readonly backing: Backing;
  readonly size: string;

  /** poolsDir is $SHOAL_DIR/storage-pools; a loop file goes to $SHOAL_DIR/disks/NAME.img, as LXD's. */
  constructor(name: string, poolsDir: string, config: Record<string, string>) {
    // Never a path outside poolsDir from the name: a pool's delete removes what it made.
    checkName("pool", name);
    this.name = name;
    const source = config.source ?? "";
    const loop = `${poolsDir.replace(/\/[^/]+\/?$/, "")}/disks/${name}.img`;
    if (source === "" || source === loop) this.backing = { kind: "loop", file: loop };
    else if (source.startsWith("/dev/")) this.backing = { kind: "block", device: source };
    else this.backing = { kind: "dir", dir: source };
    this.path = this.backing.kind === "dir" ? this.backing.dir : `${poolsDir}/${name}`;
    this.size = config.size || DEFAULT_LOOP_SIZE;
  }

  /** What a created pool records: `source` (the loop file when the driver made it) and its size. */
  ownConfig(): Record<string, string> {
    const b = this.backing;
    if (b.kind === "loop") return { source: b.file, size: this.size };
    return { source: b.kind === "block" ? b.device : b.dir };
  }

  /**
   * Makes the pool: checks the tools first, then the filesystem (a sparse loop file or the
   * device, formatted, and mounted; or the directory made a subvolume) and its layout. Idempotent:
   * a pool that exists is only mounted again. What this call made is undone when it fails.
   */
  async create(): Promise<void> {
    await requireTools(TOOLS);
    const b = this.backing;
    const made: (() => Promise<unknown>)[] = [];
    try {
      if (b.kind === "dir") {
        const st = await Deno.stat(b.dir).catch(() => null);
        if (!st) {
          const parent = b.dir.replace(/\/[^/]+\/?$/, "") || "/";
          if (await fsType(parent) !== "btrfs") {
            throw badRequest("Provided path does not reside on a btrfs filesystem");
          }
          await mustRun("Failed creating the pool's subvolume", "btrfs", ["subvolume", "create", b.dir]);
          made.push(() => removeVolume(b.dir));
        } else if (await fsType(b.dir) !== "btrfs") {
          throw badRequest("Provided path does not reside on a btrfs filesystem");
        }
      } else {
        if (b.kind === "loop" && !await Deno.stat(b.file).then(() => true, () => false)) {
          await Deno.mkdir(b.file.replace(/\/[^/]+$/, ""), { recursive: true, mode: 0o700 });
          const f = await Deno.open(b.file, { createNew: true, write: true, mode: 0o600 });
          made.push(() => Deno.remove(b.file));
          try {
            await f.truncate(parseSize(this.size));
          } finally {
            f.close();
          }
          await mustRun("Failed to format sparse file", "mkfs.btrfs", ["-q", "-L", this.name, b.file]);
        } else if (b.kind === "block") {
          const type = (await runTool("blkid", ["-o", "value", "-s", "TYPE", b.device])).stdout.trim();
          if (type !== "btrfs") {
            await mustRun("Failed to format block device", "mkfs.btrfs", ["-q", "-L", this.name, b.device]);
          }
        }
        await this.mount();
        made.push(() => this.#unmount());
      }
      for (const d of POOL_SUBDIRS) await Deno.mkdir(`${this.path}/${d}`, { recursive: true, mode: 0o711 });
    } catch (e) {
      for (const undo of made.reverse()) await undo().catch(() => {});
      throw e;
    }
  }

  /** Mounts a loop or device pool where it is seen (at daemon start, or before use). */
  async mount(): Promise<void> {
    const b = this.backing;
    if (b.kind === "dir" || await isMounted(this.path)) return;
    await Deno.mkdir(this.path, { recursive: true, mode: 0o711 });
    const args = b.kind === "loop" ? ["-o", "loop", b.file, this.path] : [b.device, this.path];
    await mustRun(`Failed mounting storage pool "${this.name}"`, "mount", ["-t", "btrfs", ...args]);
  }

  async #unmount(): Promise<void> {
    if (await isMounted(this.path)) await mustRun("Failed unmounting the pool", "umount", [this.path]);
    await Deno.remove(this.path).catch(() => {});
  }

  /** Removes the pool's layout, unmounts it, and deletes what the driver made (the loop file). */
  async delete(): Promise<void> {
    const b = this.backing;
    if (b.kind !== "dir") await this.mount().catch(() => {});
    for (const d of POOL_SUBDIRS) {
      const p = `${this.path}/${d}`;
      const entries = await Array.fromAsync(Deno.readDir(p)).catch(() => []);
      for (const e of entries) await removeVolume(`${p}/${e.name}`).catch(() => {});
      await Deno.remove(p).catch(() => {});
    }
    if (b.kind === "dir") {
      if (await isSubvolume(b.dir)) await removeVolume(b.dir).catch(() => {});
      return;
    }
    await this.#unmount();
    if (b.kind === "loop") await Deno.remove(b.file).catch(() => {});
  }

  containerPath(instance: string): string {
    return `${this.path}/containers/${instance}`;
  }

  async createContainerVolume(instance: string): Promise<string> {
    await this.mount();
    const p = this.containerPath(instance);
    await mustRun("Failed creating the instance's subvolume", "btrfs", ["subvolume", "create", p]);
    await Deno.chmod(p, 0o100);
    return p;
  }

  async deleteContainerVolume(instance: string): Promise<void> {
    await this.mount();
    await removeVolume(this.containerPath(instance));
  }

  /** An instance's copy: a snapshot of its subvolume, whatever its size. */
  async copyContainerVolume(from: string, to: string): Promise<string> {
    await this.mount();
    const p = this.containerPath(to);
    await mustRun("Failed copying the instance's subvolume", "btrfs", [
      "subvolume",
      "snapshot",
      this.containerPath(from),
      p,
    ]);
    return p;
  }

  async renameContainerVolume(from: string, to: string): Promise<void> {
    await this.mount();
    await Deno.rename(this.containerPath(from), this.containerPath(to));
  }

  snapshotPath(instance: string, snap: string): string {
    return snapshotPath(this.path, instance, snap);
  }

  /** A btrfs snapshot of the instance's subvolume: instant, whatever its size. */
  async createSnapshot(instance: string, snap: string): Promise<void> {
    await this.mount();
    const p = this.snapshotPath(instance, snap);
    await Deno.mkdir(p.slice(0, p.lastIndexOf("/")), { recursive: true, mode: 0o700 });
    await mustRun("Failed creating the snapshot", "btrfs", [
      "subvolume",
      "snapshot",
      this.containerPath(instance),
      p,
    ]);
  }

  async deleteSnapshot(instance: string, snap: string): Promise<void> {
    await this.mount();
    const p = this.snapshotPath(instance, snap);
    await removeVolume(p);
    await Deno.remove(p.slice(0, p.lastIndexOf("/"))).catch(() => {});
  }

  async deleteSnapshots(instance: string): Promise<void> {
    await this.mount();
    const dir = this.snapshotPath(instance, "x").replace(/\/x$/, "");
    const names: string[] = [];
    try {
      for await (const e of Deno.readDir(dir)) names.push(e.name);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const n of names) await removeVolume(`${dir}/${n}`);
    await Deno.remove(dir).catch(() => {});
  }

  async renameSnapshot(instance: string, from: string, to: string): Promise<void> {
    await this.mount();
    await Deno.rename(this.snapshotPath(instance, from), this.snapshotPath(instance, to));
  }

  /** The instance's subvolume is replaced by a new snapshot of the snapshot. */
  async restoreSnapshot(instance: string, snap: string): Promise<void> {
    await this.mount();
    const vol = this.containerPath(instance);
    await removeVolume(vol);
    await mustRun("Failed restoring the snapshot", "btrfs", [
      "subvolume",
      "snapshot",
      this.snapshotPath(instance, snap),
      vol,
    ]);
  }

  customPath(volume: string): string {
    return `${this.path}/custom/${volume}`;
  }

  async createCustomVolume(volume: string): Promise<string> {
    await this.mount();
    const p = this.customPath(volume);
    await mustRun("Failed creating the volume's subvolume", "btrfs", ["subvolume", "create", p]);
    await Deno.chmod(p, 0o711);
    return p;
  }

  async renameCustomVolume(from: string, to: string): Promise<void> {
    await this.mount();
    await Deno.rename(this.customPath(from), this.customPath(to));
  }

  async deleteCustomVolume(volume: string): Promise<void> {
    await this.mount();
    await removeVolume(this.customPath(volume)).catch((e) => {
      throw new Error(`Failed deleting volume "${volume}": ${errorMessage(e)}`);
    });
  }
}
