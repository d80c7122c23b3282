/**
 * A project's row and config, and where its resources of each feature live (its own rows or the
 * default project's). The lowest piece of lib/db's projects: their records and changes
 * (projects.ts) and their limits (project_limits.ts) both read through it.
 */
import { notFound } from "../util/mod.ts";
import { readConfig } from "./devices.ts";
import type { ReadTx } from "./tx.ts";

export const DEFAULT_PROJECT = "default";

/** The features a project may keep apart from the default project's. */
export type Feature = "images" | "profiles" | "storage.volumes" | "networks";
export const FEATURES: readonly Feature[] = ["images", "profiles", "storage.volumes", "networks"];

/** A config value that reads as true, as LXD reads booleans. */
export const isTrue = (v: string | undefined) =>
  v !== undefined && ["true", "1", "yes", "on"].includes(v.toLowerCase());

export interface ProjectRow {
  id: number;
  name: string;
  description: string | null;
}

/** The project's row; 404 "Project not found" (LXD's text) otherwise. */
export function projectRow(tx: ReadTx, name: string): ProjectRow {
  const r = tx.get<ProjectRow>("SELECT id, name, description FROM projects WHERE name = ?", name);
  if (!r) throw notFound("Project not found");
  return r;
}

/** A project's config. */
export function projectConfig(tx: ReadTx, id: number): Record<string, string> {
  return readConfig(tx, "SELECT key, value FROM projects_config WHERE project_id = ? ORDER BY key", id);
}

/**
 * Where a project's resources of a feature live: its own rows when the feature is on, the
 * default project's otherwise (LXD's features.* semantics).
 */
export function featureProject(tx: ReadTx, project: string, feature: Feature): { id: number; name: string } {
  const r = projectRow(tx, project);
  if (r.id === 1) return { id: 1, name: DEFAULT_PROJECT };
  const v = tx.get<{ value: string | null }>(
    "SELECT value FROM projects_config WHERE project_id = ? AND key = ?",
    r.id,
    `features.${feature}`,
  );
  return isTrue(v?.value ?? undefined) ? { id: r.id, name: r.name } : { id: 1, name: DEFAULT_PROJECT };
}

/** A URL of something in a project, as LXD writes used_by (no ?project= for default). */
export function projectUrl(path: string, project: string): string {
  return project === DEFAULT_PROJECT ? path : `${path}?project=${encodeURIComponent(project)}`;
}

/** What a project holds, as LXD's used_by lists it. */
export function projectUsedBy(tx: ReadTx, r: ProjectRow): string[] {
  const config = projectConfig(tx, r.id);
  const own = (f: Feature) => r.id === 1 || isTrue(config[`features.${f}`]);
  const out: string[] = [];
  const add = (rows: { name: string }[], prefix: string) => {
    for (const x of rows) out.push(projectUrl(`${prefix}/${encodeURIComponent(x.name)}`, r.name));
  };
  add(tx.query("SELECT name FROM instances WHERE project_id = ? ORDER BY name", r.id), "/1.0/instances");
  if (own("profiles")) {
    add(tx.query("SELECT name FROM profiles WHERE project_id = ? ORDER BY name", r.id), "/1.0/profiles");
  }
  if (own("images")) {
    add(
      tx.query("SELECT fingerprint AS name FROM images WHERE project_id = ? ORDER BY fingerprint", r.id),
      "/1.0/images",
    );
  }
  if (own("storage.volumes")) {
    for (
      const v of tx.query<{ pool: string; name: string }>(
        `SELECT storage_pools.name AS pool, storage_volumes.name FROM storage_volumes
           JOIN storage_pools ON storage_pools.id = storage_pool_id
          WHERE project_id = ? AND type = 2 ORDER BY storage_pools.name, storage_volumes.name`,
        r.id,
      )
    ) {
      out.push(
        projectUrl(
          `/1.0/storage-pools/${encodeURIComponent(v.pool)}/volumes/custom/${encodeURIComponent(v.name)}`,
          r.name,
        ),
      );
    }
  }
  if (own("networks")) {
    add(tx.query("SELECT name FROM networks WHERE project_id = ? ORDER BY name", r.id), "/1.0/networks");
  }
  return out;
}
