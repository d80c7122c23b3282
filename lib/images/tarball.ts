import { createHash } from "node:crypto";
import { YAML } from "../util/yaml.ts";
import { badRequest } from "../util/mod.ts";
import { checkTarball, type Compression, memberPath, templateNameOk } from "./validate.ts";

export type { Compression } from "./validate.ts";

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
  // Every member is checked before anything of the image is used (validate.ts).
  const checked = await checkTarball(path, compression);
  const text = checked.metadata;
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
  if (!checked.rootfs) {
    throw badRequest("Invalid image: it has no rootfs directory (split images are not supported)");
  }
  const properties: Record<string, string> = {};
  for (const [k, v] of Object.entries((m.properties ?? {}) as Record<string, unknown>)) {
    properties[k] = String(v);
  }
  const templates = checkTemplates(m.templates, checked.files);
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
      templates,
    },
  };
}

/**
 * metadata.yaml's templates: each one's `template` must be a file of the tarball's templates/
 * (no absolute path, no ".."), and its target a path in the instance.
 */
function checkTemplates(t: unknown, files: Set<string>): ImageMetadata["templates"] {
  if (t === undefined || t === null) return undefined;
  if (typeof t !== "object" || Array.isArray(t)) {
    throw badRequest("Invalid image: templates is not a mapping");
  }
  for (const [target, v] of Object.entries(t as Record<string, unknown>)) {
    const name = (v as { template?: unknown } | null)?.template;
    if (!target.startsWith("/") || target.includes("\0")) {
      throw badRequest(`Invalid image: template target "${target}" is not an absolute path in the instance`);
    }
    if (!templateNameOk(name) || !files.has(memberPath(`templates/${name}`) ?? "")) {
      throw badRequest(
        `Invalid image: template "${String(name)}" of "${target}" is not a file in templates/`,
      );
    }
  }
  return t as ImageMetadata["templates"];
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
