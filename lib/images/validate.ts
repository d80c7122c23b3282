/**
 * An image tarball is checked member by member before it is used: it is read once, decompressed
 * by the system's own tool and parsed here, header by header, so that nothing in it is written
 * anywhere until it has passed. Refused: a rootfs that is not a real directory, device nodes, a
 * member with an absolute or ".." path, a hard link to anything outside the tree, a member under
 * a symlink member, templates that are not files in templates/, and a tarball that unpacks to
 * more than MAX_UNPACKED bytes or, past RATIO_FLOOR bytes, to more than MAX_RATIO times its size
 * (a decompression bomb). The same pass yields metadata.yaml.
 */
import { badRequest } from "../util/mod.ts";

/** The compressions LXD accepts for unified images, by their magic bytes (tarball.ts tells them). */
export type Compression = "gzip" | "xz" | "bzip2" | "zstd" | "none";

/** Unpacked size above which an image is refused whatever its compression. */
export const MAX_UNPACKED = 16 * 1024 ** 3;
/** Largest unpacked/compressed ratio; real root filesystems compress 2-10 times. */
export const MAX_RATIO = 100;
/** The ratio only counts once this much is unpacked: tiny images have high ratios of headers. */
export const RATIO_FLOOR = 64 * 1024 ** 2;
/** metadata.yaml and the long names of headers are read into memory: at most this much each. */
const MAX_TEXT = 1024 * 1024;

const DECOMPRESS: Record<Compression, string[] | null> = {
  gzip: ["gzip", "-dc"],
  xz: ["xz", "-dc"],
  bzip2: ["bzip2", "-dc"],
  zstd: ["zstd", "-dcq"],
  none: null,
};

/** What the pass found. */
export interface TarballCheck {
  /** metadata.yaml's text ("" when absent). */
  metadata: string;
  /** Regular files, by normalized name (templates are looked up here). */
  files: Set<string>;
  /** It has a rootfs directory (a unified image). */
  rootfs: boolean;
  /** Bytes once unpacked (headers and padding included). */
  unpacked: number;
}

/** A template names a file inside templates/: relative, no "..", no NUL. */
export function templateNameOk(name: unknown): name is string {
  return typeof name === "string" && name !== "" && !name.startsWith("/") && !name.includes("\0") &&
    !name.split("/").includes("..");
}

/** A member's name with "./" and a trailing "/" dropped; null when it is absolute or climbs with "..". */
export function memberPath(name: string): string | null {
  if (name.startsWith("/") || name.includes("\0")) return null;
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) return null;
  return parts.join("/");
}

function refuse(why: string): never {
  throw badRequest(`Invalid image: ${why}`);
}

function field(h: Uint8Array, at: number, len: number): string {
  const b = h.subarray(at, at + len);
  const end = b.indexOf(0);
  return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
}

/** tar's numbers: octal text, or base-256 with the high bit set (GNU, for large sizes). */
function number(h: Uint8Array, at: number, len: number): number {
  if (h[at]! & 0x80) {
    let n = h[at]! & 0x7f;
    for (let i = 1; i < len; i++) n = n * 256 + h[at + i]!;
    return n;
  }
  const t = field(h, at, len).trim();
  if (t === "") return 0;
  if (!/^[0-7]+$/.test(t)) refuse("a tar header has a malformed number");
  return parseInt(t, 8);
}

/** A PAX extended header's records ("LEN key=value\n"). */
function pax(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/(\d+) ([^=\n]+)=([^\n]*)\n/g)) out[m[2]!] = m[3]!;
  return out;
}

/** Reads exactly n bytes from a stream's chunks, keeping what is left over. */
class Reader {
  #it: AsyncIterator<Uint8Array>;
  #buf = new Uint8Array(0);
  total = 0;
  constructor(s: ReadableStream<Uint8Array>, readonly onBytes: (n: number) => void) {
    this.#it = s[Symbol.asyncIterator]();
  }
  async #fill(n: number): Promise<boolean> {
    while (this.#buf.length < n) {
      const r = await this.#it.next();
      if (r.done) return false;
      this.total += r.value.length;
      this.onBytes(this.total);
      const b = new Uint8Array(this.#buf.length + r.value.length);
      b.set(this.#buf);
      b.set(r.value, this.#buf.length);
      this.#buf = b;
    }
    return true;
  }
  /** n bytes, or null at the end of the stream. */
  async read(n: number): Promise<Uint8Array | null> {
    if (!(await this.#fill(n))) return null;
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }
  /** Skips n bytes without keeping them. */
  async skip(n: number): Promise<void> {
    while (n > 0) {
      if (this.#buf.length === 0 && !(await this.#fill(1))) refuse("the tarball ends inside a member");
      const k = Math.min(n, this.#buf.length);
      this.#buf = this.#buf.subarray(k);
      n -= k;
    }
  }
  /** Reads to the end (tar's padding after its last block), still counting. */
  async drain(): Promise<void> {
    this.#buf = new Uint8Array(0);
    for (;;) {
      const r = await this.#it.next();
      if (r.done) return;
      this.total += r.value.length;
      this.onBytes(this.total);
    }
  }
  async cancel(): Promise<void> {
    await this.#it.return?.();
  }
}

/** Parses the tar stream and applies every rule to each member as it comes. */
async function walk(r: Reader): Promise<TarballCheck> {
  const files = new Set<string>();
  const dirs = new Set<string>();
  const symlinks = new Set<string>();
  let metadata = "";
  let longName: string | null = null;
  let longLink: string | null = null;
  let paxHeader: Record<string, string> = {};
  let members = 0;
  for (;;) {
    const h = await r.read(512);
    if (h === null || h.every((b) => b === 0)) break;
    const size = number(h, 124, 12);
    const type = String.fromCharCode(h[156]!);
    const padded = Math.ceil(size / 512) * 512;
    if (type === "L" || type === "K" || type === "x" || type === "g") {
      if (size > MAX_TEXT) refuse("a tar header's extension is too large");
      const text = new TextDecoder().decode((await r.read(padded))?.subarray(0, size) ?? refuse("truncated"));
      if (type === "L") longName = text.replace(/\0+$/, "");
      else if (type === "K") longLink = text.replace(/\0+$/, "");
      else if (type === "x") paxHeader = pax(text);
      continue;
    }
    const prefix = field(h, 345, 155);
    const raw = paxHeader.path ?? longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    const link = paxHeader.linkpath ?? longLink ?? field(h, 157, 100);
    const realSize = paxHeader.size !== undefined ? Number(paxHeader.size) : size;
    longName = longLink = null;
    paxHeader = {};
    members++;
    const name = memberPath(raw);
    if (name === null) refuse(`member "${raw}" has an absolute or ".." path`);
    if (type === "3" || type === "4") refuse(`member "${raw}" is a device node`);
    // Nothing may be written through a symlink the tarball made earlier.
    const parts = name.split("/");
    for (let i = 1; i < parts.length; i++) {
      const above = parts.slice(0, i).join("/");
      if (symlinks.has(above)) refuse(`member "${raw}" is under the symlink "${above}"`);
    }
    if (name === "rootfs" && type !== "5") refuse("rootfs is not a directory");
    if (type === "1") {
      const target = memberPath(link);
      if (target === null || !(files.has(target))) {
        refuse(`member "${raw}" is a hard link to "${link}", outside the image's own files`);
      }
    }
    if (type === "2") symlinks.add(name);
    else if (type === "5") dirs.add(name);
    else if (type === "0" || type === "\0" || type === "7" || type === "1") files.add(name);
    if (name === "metadata.yaml" && (type === "0" || type === "\0")) {
      if (realSize > MAX_TEXT) refuse("metadata.yaml is larger than 1 MiB");
      const b = await r.read(Math.ceil(realSize / 512) * 512);
      if (b === null) refuse("the tarball ends inside metadata.yaml");
      metadata = new TextDecoder().decode(b.subarray(0, realSize));
      continue;
    }
    await r.skip(Math.ceil(realSize / 512) * 512);
  }
  if (members === 0) refuse("the tarball is empty");
  const rootfs = [...dirs, ...files].some((n) => n === "rootfs" || n.startsWith("rootfs/"));
  return { metadata, files, rootfs, unpacked: r.total };
}

/**
 * Checks the tarball at path (compression c) and returns metadata.yaml's text with what else
 * the rules of the caller need; a StatusError 400 names the first rule broken.
 */
export async function checkTarball(path: string, c: Compression): Promise<TarballCheck> {
  const compressed = (await Deno.stat(path)).size;
  const limit = (n: number) => {
    if (n > MAX_UNPACKED) refuse(`it unpacks to more than ${MAX_UNPACKED / 1024 ** 3} GiB`);
    if (n > RATIO_FLOOR && n > compressed * MAX_RATIO) {
      refuse(`it unpacks to more than ${MAX_RATIO} times its compressed size (a decompression bomb?)`);
    }
  };
  const cmd = DECOMPRESS[c];
  if (cmd === null) {
    using f = await Deno.open(path);
    return await walk(new Reader(f.readable, limit));
  }
  const child = new Deno.Command(cmd[0]!, {
    args: [...cmd.slice(1), path],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const r = new Reader(child.stdout, limit);
  try {
    const out = await walk(r);
    await r.drain();
    return out;
  } catch (e) {
    await r.cancel().catch(() => {});
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    throw e;
  } finally {
    const st = await child.status;
    const err = (await stderr).trim();
    // A stream cut short by us is no fault of the file; one the tool could not read is.
    if (!st.success && st.signal === null && err !== "") {
      refuse(`it does not decompress: ${err.split("\n")[0]}`);
    }
  }
}
