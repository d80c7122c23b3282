/**
 * Files inside a container's root, reached the way the container itself would reach them: the
 * kernel resolves every path inside the root (openat2 RESOLVE_IN_ROOT: ".." stops at the root,
 * symlinks, absolute ones too, resolve against it), and every change is made on the handle that
 * resolution returned, never on a path again. A process in the container that swaps a file for
 * a symlink in the middle of an upload so gets its own file changed, never a host file.
 */
import { type IdmapEntry, toContainer, toHost } from "./idmap.ts";
import {
  AT_REMOVEDIR,
  close,
  E,
  fchmod,
  fchown,
  fstat,
  lchownat,
  mkdirat,
  O,
  open,
  openat2,
  readlinkFd,
  RESOLVE,
  type Stat,
  symlinkat,
  SysError,
  unlinkat,
} from "./sys.ts";

/** A path split for the *at calls: the parent's path and the last name ("" for the root). */
export function splitPath(path: string): { parent: string; name: string } {
  const parts: string[] = [];
  for (const c of path.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") parts.pop();
    else parts.push(c);
  }
  const name = parts.pop() ?? "";
  return { parent: parts.length === 0 ? "." : parts.join("/"), name };
}

/** What an entry looks like from inside: owner in the container's ids. */
export interface EntryInfo {
  type: Stat["type"];
  mode: number;
  uid: number;
  gid: number;
  size: number;
}

/** Ownership and mode a write asks for (container ids; -1 or absent: the default). */
export interface WriteOptions {
  uid?: number;
  gid?: number;
  mode?: number;
  append?: boolean;
}

/**
 * A root directory held open, with the id map its files are stored under (none unless the
 * rootfs was shifted with chown because idmapped mounts were not available).
 */
export class InRoot implements Disposable {
  #root: number;
  #map: IdmapEntry[];
  #resolve: number;

  /**
   * Opens root. strict: no symlink at all may be crossed (an image's templates/), instead of
   * symlinks resolving inside the root (an instance's rootfs).
   */
  constructor(root: string, o: { map?: IdmapEntry[]; strict?: boolean } = {}) {
    // The root itself must be a directory, not a symlink to one (an image's rootfs could be).
    this.#root = open(root, O.PATH | O.DIRECTORY | O.NOFOLLOW);
    this.#map = o.map ?? [];
    this.#resolve = RESOLVE.NO_MAGICLINKS |
      (o.strict ? RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS : RESOLVE.IN_ROOT);
  }

  [Symbol.dispose](): void {
    close(this.#root);
  }

  #at(path: string, flags: number, mode = 0): number {
    const p = path.replace(/^\/+/, "") || ".";
    return openat2(this.#root, p, flags, mode, this.#resolve);
  }

  /** The parent directory of path, held open, and the last name. */
  #parent(path: string): { fd: number; name: string } {
    const { parent, name } = splitPath(path);
    return { fd: this.#at(parent, O.PATH | O.DIRECTORY), name };
  }

  #info(s: Stat): EntryInfo {
    return {
      type: s.type,
      mode: s.mode,
      uid: toContainer(this.#map, s.uid, true),
      gid: toContainer(this.#map, s.gid, false),
      size: s.size,
    };
  }

  #hostIds(o: WriteOptions, created: boolean): { uid: number; gid: number } | null {
    const given = (o.uid ?? -1) >= 0 || (o.gid ?? -1) >= 0;
    if (!given && !created) return null;
    const uid = toHost(this.#map, Math.max(o.uid ?? 0, 0), true);
    const gid = toHost(this.#map, Math.max(o.gid ?? 0, 0), false);
    if (uid < 0 || gid < 0) throw new SysError("chown", E.INVAL);
    return { uid, gid };
  }

  /** The entry at path itself (a last symlink is not followed, as lstat). */
  stat(path: string): EntryInfo {
    const { parent, name } = splitPath(path);
    const fd = this.#at(name === "" ? "." : `${parent}/${name}`, O.PATH | O.NOFOLLOW);
    try {
      return this.#info(fstat(fd));
    } finally {
      close(fd);
    }
  }

  /** A symlink's target. */
  readlink(path: string): string {
    const fd = this.#at(path, O.PATH | O.NOFOLLOW);
    try {
      return readlinkFd(fd);
    } finally {
      close(fd);
    }
  }

  /** The names in a directory, sorted. */
  async readDir(path: string): Promise<string[]> {
    const fd = this.#at(path, O.PATH | O.DIRECTORY);
    try {
      const names: string[] = [];
      for await (const e of Deno.readDir(`/proc/self/fd/${fd}`)) names.push(e.name);
      return names.sort();
    } finally {
      close(fd);
    }
  }

  /** Opens a regular file for reading; anything else (a fifo, a device) is refused. */
  async openFile(path: string): Promise<{ file: Deno.FsFile; info: EntryInfo }> {
    const fd = this.#at(path, O.PATH);
    try {
      const s = fstat(fd);
      if (s.type === "directory") throw new SysError("open", E.ISDIR);
      if (s.type !== "file") throw new SysError("open", E.INVAL);
      // The magic link names the inode we resolved and checked, whatever the path is now.
      return { file: await Deno.open(`/proc/self/fd/${fd}`, { read: true }), info: this.#info(s) };
    } finally {
      close(fd);
    }
  }

  /**
   * Writes a regular file from body: created new (O_EXCL, so a symlink is never followed to
   * create it), or an existing regular file reached inside the root. Owner and mode are set on
   * the open file before any byte is written.
   */
  async writeFile(
    path: string,
    body: ReadableStream<Uint8Array> | Uint8Array | null,
    o: WriteOptions = {},
  ): Promise<void> {
    if (splitPath(path).name === "") throw new SysError("open", E.ISDIR);
    let fd = -1;
    let created = false;
    try {
      try {
        fd = this.#at(path, O.WRONLY | O.CREAT | O.EXCL | O.NOCTTY, 0o600);
        created = true;
      } catch (e) {
        if (!(e instanceof SysError && e.errno === E.EXIST)) throw e;
        const pfd = this.#at(path, O.PATH);
        try {
          const s = fstat(pfd);
          if (s.type === "directory") throw new SysError("open", E.ISDIR);
          if (s.type !== "file") throw new SysError("open", E.INVAL);
          fd = open(`/proc/self/fd/${pfd}`, O.WRONLY | O.NOCTTY | O.NONBLOCK | (o.append ? 0 : O.TRUNC));
        } finally {
          close(pfd);
        }
      }
      const ids = this.#hostIds(o, created);
      if (ids) fchown(fd, ids.uid, ids.gid);
      if ((o.mode ?? -1) >= 0 || created) fchmod(fd, (o.mode ?? -1) >= 0 ? o.mode! : 0o644);
      const f = await Deno.open(`/proc/self/fd/${fd}`, { write: true, append: true });
      if (body instanceof Uint8Array) {
        try {
          await f.write(body);
        } finally {
          f.close();
        }
      } else if (body) {
        await body.pipeTo(f.writable);
      } else {
        f.close();
      }
    } finally {
      if (fd >= 0) close(fd);
    }
  }

  /** Creates a directory (an existing one is fine) and sets its owner and mode. */
  mkdir(path: string, o: WriteOptions = {}): void {
    const { fd: parent, name } = this.#parent(path);
    try {
      if (name === "") throw new SysError("mkdir", E.EXIST);
      let created = true;
      try {
        mkdirat(parent, name, 0o700);
      } catch (e) {
        if (!(e instanceof SysError && e.errno === E.EXIST)) throw e;
        created = false;
      }
      const dfd = openat2(
        parent,
        name,
        O.RDONLY | O.DIRECTORY | O.NOFOLLOW,
        0,
        RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS,
      );
      try {
        const ids = this.#hostIds(o, created);
        if (ids) fchown(dfd, ids.uid, ids.gid);
        if ((o.mode ?? -1) >= 0 || created) fchmod(dfd, (o.mode ?? -1) >= 0 ? o.mode! : 0o755);
      } finally {
        close(dfd);
      }
    } finally {
      close(parent);
    }
  }

  /** Replaces whatever is at path (not a directory) with a symlink to target. */
  symlink(path: string, target: string, o: WriteOptions = {}): void {
    const { fd: parent, name } = this.#parent(path);
    try {
      if (name === "") throw new SysError("symlink", E.EXIST);
      try {
        unlinkat(parent, name, 0);
      } catch (e) {
        if (!(e instanceof SysError && e.errno === E.NOENT)) throw e;
      }
      symlinkat(target, parent, name);
      const ids = this.#hostIds(o, true)!;
      lchownat(parent, name, ids.uid, ids.gid);
    } finally {
      close(parent);
    }
  }

  /** Removes a file, a symlink (not what it points to) or an empty directory. */
  remove(path: string): void {
    const { fd: parent, name } = this.#parent(path);
    try {
      if (name === "") throw new SysError("unlink", E.PERM);
      try {
        unlinkat(parent, name, 0);
      } catch (e) {
        if (!(e instanceof SysError && e.errno === E.ISDIR)) throw e;
        unlinkat(parent, name, AT_REMOVEDIR);
      }
    } finally {
      close(parent);
    }
  }
}
