/**
 * How an unprivileged container's root filesystem meets its id map. Where the kernel can mount
 * the filesystem idmapped (LXD's first choice), the files stay as the image has them and liblxc
 * mounts the rootfs through the map (`lxc.rootfs.options = idmap=container`). Elsewhere the tree
 * is shifted once with chown, and the map on disk is recorded in volatile.last_state.idmap so
 * that a later change of map (security.privileged) shifts it back first.
 */
import { type IdmapEntry, toContainer, toHost } from "./idmap.ts";
import { AT_FDCWD, canIdmapMount, close, fstat, lchownat, O, open } from "./sys.ts";

/** Whether idmapped mounts work, per filesystem (device), probed once each. */
const probed = new Map<string, boolean>();

/**
 * Whether path's filesystem can be mounted idmapped here. LXD's switch to refuse them
 * (LXD_IDMAPPED_MOUNTS_DISABLE) has its twin: SHOAL_IDMAPPED_MOUNTS_DISABLE=1 makes every
 * unprivileged rootfs shifted with chown instead.
 */
export async function idmappedMounts(path: string): Promise<boolean> {
  if (Deno.env.get("SHOAL_IDMAPPED_MOUNTS_DISABLE")) return false;
  const fd = open(path, O.PATH);
  let dev: string;
  try {
    dev = fstat(fd).dev;
  } finally {
    close(fd);
  }
  const known = probed.get(dev);
  if (known !== undefined) return known;
  const ok = await probe(path);
  probed.set(dev, ok);
  return ok;
}

/** A helper in a user namespace of its own lends that namespace to the probe mount. */
async function probe(path: string): Promise<boolean> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("unshare", {
      args: ["--user", "--map-root-user", "sleep", "30"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch {
    return false;
  }
  try {
    // unshare execs sleep once the namespace has its map: only then is the namespace usable.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const comm = await Deno.readTextFile(`/proc/${child.pid}/comm`).catch(() => "");
      if (comm.trim() === "sleep") return canIdmapMount(path, `/proc/${child.pid}/ns/user`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return false;
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
  }
}

/**
 * Changes the owners of every entry under root (root included) from the map `from` to the map
 * `to` ([] is host ids), never following a symlink. chown clears the setuid and setgid bits, so
 * the mode is put back after it.
 */
export async function shiftTree(root: string, from: IdmapEntry[], to: IdmapEntry[]): Promise<void> {
  const shift = async (path: string, info: Deno.FileInfo): Promise<void> => {
    const uid = toHost(to, toContainer(from, info.uid ?? 0, true), true);
    const gid = toHost(to, toContainer(from, info.gid ?? 0, false), false);
    if (uid >= 0 && gid >= 0 && (uid !== info.uid || gid !== info.gid)) {
      lchownat(AT_FDCWD, path, uid, gid);
      if (!info.isSymlink && (info.mode ?? 0) & 0o6000) await Deno.chmod(path, (info.mode ?? 0) & 0o7777);
    }
  };
  await shift(root, await Deno.lstat(root));
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      const p = `${dir}/${e.name}`;
      const info = await Deno.lstat(p);
      await shift(p, info);
      if (info.isDirectory) await walk(p);
    }
  };
  await walk(root);
}

/** What a start needs to know of the id map, and the volatile keys that record it (LXD's names). */
export interface IdmapPlan {
  /** The map the container runs with ([] when privileged). */
  idmap: IdmapEntry[];
  /** Mount the rootfs through the map: its files on disk are unshifted. */
  idmappedRootfs: boolean;
  /** The map the files on disk are stored under now. */
  onDisk: IdmapEntry[];
}

/**
 * Brings the rootfs to the map the container is to run with: nothing when the disk already
 * matches it, else back to host ids first (a shift recorded earlier), then an idmapped mount
 * where the kernel can, or a chown shift where it cannot. The volume directory is the container
 * root's own with mode 0100 (LXD): only that root needs to cross it.
 */
export async function prepareIdmap(
  volume: string,
  next: IdmapEntry[],
  disk: IdmapEntry[],
): Promise<IdmapPlan> {
  const rootfs = `${volume}/rootfs`;
  let onDisk = disk;
  if (JSON.stringify(next) !== JSON.stringify(disk)) {
    if (disk.length > 0) {
      await shiftTree(rootfs, disk, []);
      onDisk = [];
    }
    if (next.length > 0 && !(await idmappedMounts(rootfs))) {
      await shiftTree(rootfs, [], next);
      onDisk = next;
    }
  }
  const owner = { uid: toHost(onDisk, 0, true), gid: toHost(onDisk, 0, false) };
  lchownat(AT_FDCWD, volume, owner.uid, owner.gid);
  return { idmap: next, idmappedRootfs: next.length > 0 && onDisk.length === 0, onDisk };
}
