import { createHash } from "node:crypto";
import YAML from "yaml";
import { badRequest } from "../util/mod.ts";

/** The compressions LXD accepts for unified images, by their magic bytes. */
export type Compression = "gzip" | "xz" | "bzip2" | "zstd" | "none";

/** Tells the compression from the first bytes of a file; null when it is none LXD knows. */
export function detectCompression(head: Uint8Array): Compression | null {
  const b = (i: number) => head[i] ?? -1;
  if (b(0) === 0x1f && b(1) === 0x8b) return "gzip";
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a && b(5) === 0x00) {
    return "xz";
  }
  if (b(0) === 0x42 && b(1) === 0x5a && b(2) === 0x68) return "bzip2";
  if (b(0) === 0x28 && b(1) === 0xb5 && b(2) === 0x2f && b(3) === 0xfd) return "zstd";
  if (new TextDecoder().decode(head.subarray(257, 262)) === "ustar") return "none";
  return null;
}

/** tar's flag for a compression. */
export function tarFlag(c: Compression): string[] {
  return { gzip: ["-z"], xz: ["-J"], bzip2: ["-j"], zstd: ["--zstd"], none: [] }[c];
}

/** What metadata.yaml says (LXD's ImageMetadata). */
export interface ImageMetadata {
  architecture: string;
  creation_date: number;
  expiry_date?: number;
  properties: Record<string, string>;
  templates?: Record<
    string,
    { when?: string[]; template: string; create_only?: boolean; properties?: Record<string, string> }
  >;
}

/** What reading an image file finds. */
export interface ImageFileInfo {
  fingerprint: string;
  size: number;
  compression: Compression;
  metadata: ImageMetadata;
}

/** SHA-256 of a file, streamed (LXD's image fingerprint). */
export async function sha256File(path: string): Promise<{ hash: string; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  using f = await Deno.open(path);
  for await (const chunk of f.readable) {
    h.update(chunk);
    size += chunk.length;
  }
  return { hash: h.digest("hex"), size };
}

async function readHead(path: string): Promise<Uint8Array> {
  using f = await Deno.open(path);
  const buf = new Uint8Array(512);
  let n = 0;
  while (n < buf.length) {
    const r = await f.read(buf.subarray(n));
    if (r === null) break;
    n += r;
  }
  return buf.subarray(0, n);
}

/**
 * Reads an image tarball: its fingerprint and metadata.yaml. Refuses what is not one with LXD's
 * messages ("Unsupported compression", "Metadata tarball is missing metadata.yaml").
 */
export async function readImageFile(path: string): Promise<ImageFileInfo> {
  const compression = detectCompression(await readHead(path));
  if (compression === null) throw badRequest("Unsupported compression");
  const out = await new Deno.Command("tar", {
    args: ["-x", ...tarFlag(compression), "-O", "-f", path, "metadata.yaml", "./metadata.yaml"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (text.trim() === "") throw badRequest("Metadata tarball is missing metadata.yaml");
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    throw badRequest(`Failed parsing metadata.yaml: ${e instanceof Error ? e.message : e}`);
  }
  if (!doc || typeof doc !== "object") throw badRequest("Failed parsing metadata.yaml: expected a mapping");
  const m = doc as Record<string, unknown>;
  if (!m.creation_date) throw badRequest("Missing creation date");
  const properties: Record<string, string> = {};
  for (const [k, v] of Object.entries((m.properties ?? {}) as Record<string, unknown>)) {
    properties[k] = String(v);
  }
  const { hash, size } = await sha256File(path);
  return {
    fingerprint: hash,
    size,
    compression,
    metadata: {
      architecture: String(m.architecture ?? ""),
      creation_date: Number(m.creation_date),
      expiry_date: m.expiry_date === undefined ? undefined : Number(m.expiry_date),
      properties,
      templates: m.templates as ImageMetadata["templates"],
    },
  };
}

/** Unpacks an image tarball (metadata.yaml, templates/, rootfs/) into dir. */
export async function unpackImage(path: string, dir: string, compression: Compression): Promise<void> {
  const out = await new Deno.Command("tar", {
    args: ["-x", ...tarFlag(compression), "--numeric-owner", "-p", "-f", path, "-C", dir],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`Failed to unpack the image: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}
