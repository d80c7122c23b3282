import { conflict, notFound } from "../util/mod.ts";
import { nodeIdOf } from "./devices.ts";
import { ARCH_IDS } from "./nodes.ts";
import { DEFAULT_PROJECT, featureProject } from "./project_rows.ts";
import { defineTx, type ReadTx } from "./tx.ts";

const ARCH_NAMES = Object.fromEntries(Object.entries(ARCH_IDS).map(([k, v]) => [v, k]));

/** An image as stored; the API's Image is built from it. */
export interface ImageRecord {
  id: number;
  fingerprint: string;
  filename: string;
  size: number;
  public: boolean;
  architecture: string;
  type: "container" | "virtual-machine";
  created_at: string;
  uploaded_at: string;
  last_used_at: string;
  expires_at: string;
  auto_update: boolean;
  cached: boolean;
  properties: Record<string, string>;
  aliases: { name: string; description: string }[];
  /** Members that hold the image file. */
  locations: string[];
}

/** An alias as stored. */
export interface AliasRecord {
  name: string;
  description: string;
  target: string;
  type: string;
}

const EPOCH = "0001-01-01T00:00:00Z";

interface ImageRow {
  id: number;
  fingerprint: string;
  filename: string;
  size: number;
  public: number;
  architecture: number;
  type: number;
  creation_date: string | null;
  upload_date: string;
  last_use_date: string | null;
  expiry_date: string | null;
  auto_update: number;
  cached: number;
}

function toRecord(tx: ReadTx, r: ImageRow): ImageRecord {
  return {
    id: r.id,
    fingerprint: r.fingerprint,
    filename: r.filename,
    size: r.size,
    public: r.public === 1,
    architecture: ARCH_NAMES[r.architecture] ?? "unknown",
    type: r.type === 1 ? "virtual-machine" : "container",
    created_at: r.creation_date ?? EPOCH,
    uploaded_at: r.upload_date,
    last_used_at: r.last_use_date ?? EPOCH,
    expires_at: r.expiry_date ?? EPOCH,
    auto_update: r.auto_update === 1,
    cached: r.cached === 1,
    properties: Object.fromEntries(
      tx.query<{ key: string; value: string | null }>(
        "SELECT key, value FROM images_properties WHERE image_id = ? ORDER BY key",
        r.id,
      ).map((p) => [p.key, p.value ?? ""]),
    ),
    aliases: tx.query<{ name: string; description: string }>(
      "SELECT name, description FROM images_aliases WHERE image_id = ? ORDER BY name",
      r.id,
    ).map((x) => ({ name: x.name, description: x.description })),
    locations: tx.query<{ name: string }>(
      "SELECT nodes.name FROM images_nodes JOIN nodes ON nodes.id = images_nodes.node_id WHERE image_id = ? ORDER BY nodes.name",
      r.id,
    ).map((x) => x.name),
  };
}

const IMAGE_COLUMNS =
  "id, fingerprint, filename, size, public, architecture, type, creation_date, upload_date, last_use_date, expiry_date, auto_update, cached";

/** Every image of a project. */
export function listImages(tx: ReadTx, projectId = 1): ImageRecord[] {
  return tx.query<ImageRow>(
    `SELECT ${IMAGE_COLUMNS} FROM images WHERE project_id = ? ORDER BY fingerprint`,
    projectId,
  ).map((r) => toRecord(tx, r));
}

/**
 * Finds an image by its full fingerprint or a unique prefix of it, as LXD does; 404 "Image not
 * found" otherwise.
 */
export function findImage(tx: ReadTx, fingerprint: string, projectId = 1): ImageRecord {
  if (!/^[0-9a-f]+$/i.test(fingerprint)) throw notFound("Image not found");
  const rows = tx.query<ImageRow>(
    `SELECT ${IMAGE_COLUMNS} FROM images WHERE project_id = ? AND fingerprint LIKE ? ORDER BY fingerprint LIMIT 2`,
    projectId,
    fingerprint.toLowerCase() + "%",
  );
  if (rows.length === 0) throw notFound("Image not found");
  if (rows.length > 1) throw conflict("More than one image matches");
  return toRecord(tx, rows[0]!);
}

/** What an import stores. */
export interface NewImage {
  fingerprint: string;
  filename: string;
  size: number;
  public: boolean;
  architecture: string;
  createdAt: string | null;
  properties: Record<string, string>;
  /** The member that holds the file. */
  member: string;
  autoUpdate?: boolean;
  /** The project the request named (its images, or default's without features.images). */
  project?: string;
}

/** The project id whose images a project uses (features.images). */
export function imageProjectId(tx: ReadTx, project: string | undefined): number {
  return featureProject(tx, project ?? DEFAULT_PROJECT, "images").id;
}

/**
 * Where an image's file is, whatever project records it (one file serves every project): the
 * members holding it and a project to ask its export in; null when no project has it.
 */
export function imageHolders(
  tx: ReadTx,
  fingerprint: string,
): { project: string; locations: string[] } | null {
  const r = tx.get<{ id: number; project: string }>(
    `SELECT images.id, projects.name AS project FROM images JOIN projects ON projects.id = images.project_id
      WHERE images.fingerprint = ? ORDER BY images.project_id LIMIT 1`,
    fingerprint,
  );
  if (!r) return null;
  const locations = tx.query<{ name: string }>(
    `SELECT DISTINCT nodes.name FROM images JOIN images_nodes ON images_nodes.image_id = images.id
      JOIN nodes ON nodes.id = images_nodes.node_id WHERE images.fingerprint = ? ORDER BY nodes.name`,
    fingerprint,
  ).map((x) => x.name);
  return { project: r.project, locations };
}

/**
 * Records that a member now holds an image's file too (it fetched it from another member), in
 * every project that records the image: they share the file.
 */
export const addImageNode = defineTx(
  "images.add-node",
  (tx, a: { fingerprint: string; member: string }): void => {
    const rows = tx.query<{ id: number }>("SELECT id FROM images WHERE fingerprint = ?", a.fingerprint);
    if (rows.length === 0) throw notFound("Image not found");
    const node = nodeIdOf(tx, a.member);
    for (const r of rows) {
      tx.exec("INSERT OR IGNORE INTO images_nodes (image_id, node_id) VALUES (?, ?)", r.id, node);
    }
  },
);

/** Records an imported image on this member; 409 when it is already there, as LXD. */
export const createImage = defineTx("images.create", (tx, i: NewImage): number => {
  const pid = imageProjectId(tx, i.project);
  if (tx.get("SELECT id FROM images WHERE project_id = ? AND fingerprint = ?", pid, i.fingerprint)) {
    throw conflict(`Image with same fingerprint already exists`);
  }
  const { lastInsertRowid: id } = tx.exec(
    "INSERT INTO images (fingerprint, filename, size, public, architecture, creation_date, upload_date, auto_update, project_id, type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
    i.fingerprint,
    i.filename,
    i.size,
    i.public ? 1 : 0,
    ARCH_IDS[i.architecture] ?? 0,
    i.createdAt,
    tx.now,
    i.autoUpdate ? 1 : 0,
    pid,
  );
  for (const [k, v] of Object.entries(i.properties)) {
    tx.exec("INSERT INTO images_properties (image_id, type, key, value) VALUES (?, 0, ?, ?)", id, k, v);
  }
  tx.exec("INSERT INTO images_nodes (image_id, node_id) VALUES (?, ?)", id, nodeIdOf(tx, i.member));
  return id;
});

/** Writable fields of an image (PUT/PATCH /1.0/images/FP). */
export interface ImageUpdate {
  fingerprint: string;
  public: boolean;
  autoUpdate: boolean;
  properties: Record<string, string>;
  expiresAt: string | null;
  project?: string;
}

export const updateImage = defineTx("images.update", (tx, u: ImageUpdate): void => {
  const r = tx.get<{ id: number }>(
    "SELECT id FROM images WHERE project_id = ? AND fingerprint = ?",
    imageProjectId(tx, u.project),
    u.fingerprint,
  );
  if (!r) throw notFound("Image not found");
  tx.exec(
    "UPDATE images SET public = ?, auto_update = ?, expiry_date = ? WHERE id = ?",
    u.public ? 1 : 0,
    u.autoUpdate ? 1 : 0,
    u.expiresAt,
    r.id,
  );
  tx.exec("DELETE FROM images_properties WHERE image_id = ?", r.id);
  for (const [k, v] of Object.entries(u.properties)) {
    tx.exec("INSERT INTO images_properties (image_id, type, key, value) VALUES (?, 0, ?, ?)", r.id, k, v);
  }
});

/** Marks an image used now (instance created from it). */
export const touchImage = defineTx(
  "images.touch",
  (tx, a: { fingerprint: string; project?: string }): void => {
    tx.exec(
      "UPDATE images SET last_use_date = ? WHERE project_id = ? AND fingerprint = ?",
      tx.now,
      imageProjectId(tx, a.project),
      a.fingerprint,
    );
  },
);

/** Deletes an image with its aliases and properties. */
export const deleteImage = defineTx(
  "images.delete",
  (tx, a: { fingerprint: string; project?: string }): void => {
    const r = tx.exec(
      "DELETE FROM images WHERE project_id = ? AND fingerprint = ?",
      imageProjectId(tx, a.project),
      a.fingerprint,
    );
    if (r.changes === 0) throw notFound("Image not found");
  },
);

/** Every alias of a project. */
export function listAliases(tx: ReadTx, projectId = 1): AliasRecord[] {
  return tx.query<{ name: string; description: string; target: string; type: number }>(
    `SELECT images_aliases.name, images_aliases.description, images.fingerprint AS target, images.type
       FROM images_aliases JOIN images ON images.id = images_aliases.image_id
      WHERE images_aliases.project_id = ? ORDER BY images_aliases.name`,
    projectId,
  ).map((r) => ({
    name: r.name,
    description: r.description,
    target: r.target,
    type: r.type === 1 ? "virtual-machine" : "container",
  }));
}

/** An alias by name; 404 "Image alias not found" otherwise. */
export function getAlias(tx: ReadTx, name: string, projectId = 1): AliasRecord {
  const a = listAliases(tx, projectId).find((x) => x.name === name);
  if (!a) throw notFound("Image alias not found");
  return a;
}

/** Creates an alias; 409 "Alias already exists" when taken. */
export const createAlias = defineTx(
  "images.alias-create",
  (tx, a: { name: string; target: string; description: string; project?: string }): void => {
    const pid = imageProjectId(tx, a.project);
    if (tx.get("SELECT id FROM images_aliases WHERE project_id = ? AND name = ?", pid, a.name)) {
      throw conflict("Alias already exists");
    }
    const img = tx.get<{ id: number }>(
      "SELECT id FROM images WHERE project_id = ? AND fingerprint = ?",
      pid,
      a.target,
    );
    if (!img) throw notFound("Image not found");
    tx.exec(
      "INSERT INTO images_aliases (name, image_id, description, project_id) VALUES (?, ?, ?, ?)",
      a.name,
      img.id,
      a.description,
      pid,
    );
  },
);

/** Points an alias at another image or changes its description. */
export const updateAlias = defineTx(
  "images.alias-update",
  (tx, a: { name: string; target: string; description: string; project?: string }): void => {
    const pid = imageProjectId(tx, a.project);
    const img = tx.get<{ id: number }>(
      "SELECT id FROM images WHERE project_id = ? AND fingerprint = ?",
      pid,
      a.target,
    );
    if (!img) throw notFound("Image not found");
    const r = tx.exec(
      "UPDATE images_aliases SET image_id = ?, description = ? WHERE project_id = ? AND name = ?",
      img.id,
      a.description,
      pid,
      a.name,
    );
    if (r.changes === 0) throw notFound("Image alias not found");
  },
);

export const deleteAlias = defineTx(
  "images.alias-delete",
  (tx, a: { name: string; project?: string }): void => {
    const r = tx.exec(
      "DELETE FROM images_aliases WHERE project_id = ? AND name = ?",
      imageProjectId(tx, a.project),
      a.name,
    );
    if (r.changes === 0) throw notFound("Image alias not found");
  },
);
