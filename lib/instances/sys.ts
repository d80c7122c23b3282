/**
 * The few Linux calls Deno has no API for, from libc through Deno's FFI: openat2 (a path resolved
 * inside a root, never following a link out of it), the *at calls that act on a directory handle
 * rather than a path, fchown/fchmod on an open file, and the detached idmapped mount of the probe.
 * Acting on handles is what makes file access race-free: a container that swaps a path for a
 * symlink after we looked at it changes nothing about the file we hold.
 */

const X86 = Deno.build.arch === "x86_64";

/** open(2) flags (O_DIRECTORY and O_NOFOLLOW differ between x86_64 and arm64). */
export const O = {
  RDONLY: 0,
  WRONLY: 1,
  CREAT: 0o100,
  EXCL: 0o200,
  NOCTTY: 0o400,
  TRUNC: 0o1000,
  APPEND: 0o2000,
  NONBLOCK: 0o4000,
  DIRECTORY: X86 ? 0o200000 : 0o40000,
  NOFOLLOW: X86 ? 0o400000 : 0o100000,
  CLOEXEC: 0o2000000,
  PATH: 0o10000000,
} as const;

/** openat2's resolve flags. */
export const RESOLVE = {
  NO_XDEV: 0x01,
  NO_MAGICLINKS: 0x02,
  NO_SYMLINKS: 0x04,
  BENEATH: 0x08,
  IN_ROOT: 0x10,
};

export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_REMOVEDIR = 0x200;
const AT_EMPTY_PATH = 0x1000;
const OPEN_TREE_CLONE = 1;
const MOUNT_ATTR_IDMAP = 0x00100000;
const STATX_BASIC_STATS = 0x7ff;

/** The same numbers on x86_64 and arm64: these calls came after the tables were unified. */
const SYS_OPEN_TREE = 428;
const SYS_OPENAT2 = 437;
const SYS_MOUNT_SETATTR = 442;

/** Errnos the callers tell apart. */
export const E = {
  PERM: 1,
  NOENT: 2,
  AGAIN: 11,
  ACCES: 13,
  EXIST: 17,
  XDEV: 18,
  NOTDIR: 20,
  ISDIR: 21,
  INVAL: 22,
  NOSYS: 38,
  NAMETOOLONG: 36,
  NOTEMPTY: 39,
  LOOP: 40,
} as const;

const TEXTS: Record<number, string> = {
  1: "Operation not permitted",
  2: "No such file or directory",
  13: "Permission denied",
  17: "File exists",
  18: "Path leaves the instance",
  20: "Not a directory",
  21: "Is a directory",
  22: "Invalid argument",
  36: "File name too long",
  38: "Function not implemented",
  39: "Directory not empty",
  40: "Too many levels of symbolic links",
};

/** A failed call: its errno and a text that names no host path. */
export class SysError extends Error {
  constructor(readonly call: string, readonly errno: number) {
    super(TEXTS[errno] ?? `${call} failed (errno ${errno})`);
    this.name = "SysError";
  }
}

let lib: ReturnType<typeof load> | null = null;
function load() {
  return Deno.dlopen("libc.so.6", {
    __errno_location: { parameters: [], result: "pointer" },
    openat2: { name: "syscall", parameters: ["i64", "i32", "buffer", "buffer", "usize"], result: "i64" },
    open_tree: { name: "syscall", parameters: ["i64", "i32", "buffer", "u32"], result: "i64" },
    mount_setattr: {
      name: "syscall",
      parameters: ["i64", "i32", "buffer", "u32", "buffer", "usize"],
      result: "i64",
    },
    open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
    fchown: { parameters: ["i32", "u32", "u32"], result: "i32" },
    fchmod: { parameters: ["i32", "u32"], result: "i32" },
    fchownat: { parameters: ["i32", "buffer", "u32", "u32", "i32"], result: "i32" },
    mkdirat: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    unlinkat: { parameters: ["i32", "buffer", "i32"], result: "i32" },
    symlinkat: { parameters: ["buffer", "i32", "buffer"], result: "i32" },
    readlinkat: { parameters: ["i32", "buffer", "buffer", "usize"], result: "isize" },
    statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  });
}

function libc() {
  lib ??= load();
  return lib.symbols;
}

function errno(): number {
  const p = libc().__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

/** A C string; a NUL inside would cut the path short, so it is refused. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  if (s.includes("\0")) throw new SysError("path", E.INVAL);
  return new TextEncoder().encode(s + "\0");
}

function check(call: string, r: number | bigint): number {
  const n = Number(r);
  if (n < 0) throw new SysError(call, errno());
  return n;
}

/** openat2(dirfd, path, {flags, mode, resolve}): a new fd, or a SysError. */
export function openat2(dirfd: number, path: string, flags: number, mode: number, resolve: number): number {
  const how = new BigUint64Array([BigInt(flags | O.CLOEXEC), BigInt(mode), BigInt(resolve)]);
  const p = cstr(path);
  // EAGAIN: a rename raced the resolution inside the root (openat2(2)); the kernel asks to retry.
  for (let tries = 0;; tries++) {
    const r = Number(
      libc().openat2(BigInt(SYS_OPENAT2), dirfd, p, new Uint8Array(how.buffer), BigInt(how.byteLength)),
    );
    if (r >= 0) return r;
    const e = errno();
    if (e !== E.AGAIN || tries >= 16) throw new SysError("openat2", e);
  }
}

/** open(2) of a host path (a root to resolve in, a namespace handle). */
export function open(path: string, flags: number): number {
  return check("open", libc().open(cstr(path), flags | O.CLOEXEC, 0));
}

export function close(fd: number): void {
  libc().close(fd);
}

export function fchown(fd: number, uid: number, gid: number): void {
  check("fchown", libc().fchown(fd, uid >>> 0, gid >>> 0));
}

export function fchmod(fd: number, mode: number): void {
  check("fchmod", libc().fchmod(fd, mode & 0o7777));
}

/** Changes the owner of the entry name in dirfd itself, never what a symlink points to. */
export function lchownat(dirfd: number, name: string, uid: number, gid: number): void {
  check("fchownat", libc().fchownat(dirfd, cstr(name), uid >>> 0, gid >>> 0, AT_SYMLINK_NOFOLLOW));
}

export function mkdirat(dirfd: number, name: string, mode: number): void {
  check("mkdirat", libc().mkdirat(dirfd, cstr(name), mode & 0o7777));
}

export function unlinkat(dirfd: number, name: string, flags: number): void {
  check("unlinkat", libc().unlinkat(dirfd, cstr(name), flags));
}

export function symlinkat(target: string, dirfd: number, name: string): void {
  check("symlinkat", libc().symlinkat(cstr(target), dirfd, cstr(name)));
}

/** The target of the symlink an O_PATH fd holds. */
export function readlinkFd(fd: number): string {
  const buf = new Uint8Array(4096);
  const n = check("readlinkat", libc().readlinkat(fd, cstr(""), buf, BigInt(buf.length)));
  return new TextDecoder().decode(buf.subarray(0, n));
}

/** What statx says of an fd (or of name in it, not following a last symlink). */
export interface Stat {
  type: "file" | "directory" | "symlink" | "other";
  mode: number;
  uid: number;
  gid: number;
  size: number;
  dev: string;
}

export function fstat(fd: number, name = ""): Stat {
  const buf = new Uint8Array(256);
  const flags = AT_SYMLINK_NOFOLLOW | (name === "" ? AT_EMPTY_PATH : 0);
  check("statx", libc().statx(fd, cstr(name), flags, STATX_BASIC_STATS, buf));
  const v = new DataView(buf.buffer);
  const mode = v.getUint16(28, true);
  const fmt = mode & 0o170000;
  return {
    type: fmt === 0o100000 ? "file" : fmt === 0o040000 ? "directory" : fmt === 0o120000 ? "symlink" : "other",
    mode: mode & 0o7777,
    uid: v.getUint32(20, true),
    gid: v.getUint32(24, true),
    size: Number(v.getBigUint64(40, true)),
    // stx_dev_major, stx_dev_minor: one filesystem, for the per-filesystem probe.
    dev: `${v.getUint32(136, true)}:${v.getUint32(140, true)}`,
  };
}

/**
 * Whether the kernel can mount path's filesystem idmapped: a detached clone of the tree, given
 * the user namespace of a helper process (LXD's create_detached_idmapped_mount). Nothing is
 * attached anywhere, so the probe leaves no mount behind.
 */
export function canIdmapMount(path: string, usernsPath: string): boolean {
  let tree = -1;
  let userns = -1;
  try {
    userns = open(usernsPath, O.RDONLY);
    tree = check(
      "open_tree",
      libc().open_tree(BigInt(SYS_OPEN_TREE), AT_FDCWD, cstr(path), OPEN_TREE_CLONE | O.CLOEXEC),
    );
    // struct mount_attr { attr_set, attr_clr, propagation, userns_fd }
    const attr = new BigUint64Array([BigInt(MOUNT_ATTR_IDMAP), 0n, 0n, BigInt(userns)]);
    check(
      "mount_setattr",
      libc().mount_setattr(
        BigInt(SYS_MOUNT_SETATTR),
        tree,
        cstr(""),
        AT_EMPTY_PATH,
        new Uint8Array(attr.buffer),
        BigInt(attr.byteLength),
      ),
    );
    return true;
  } catch {
    return false;
  } finally {
    if (tree >= 0) close(tree);
    if (userns >= 0) close(userns);
  }
}
