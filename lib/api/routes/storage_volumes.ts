import { forwardTo } from "../target.ts";
import { Hono } from "hono";
import {
  createCustomVolume,
  type CustomVolume,
  deleteCustomVolume,
  findCustomVolumes,
  getCustomVolume,
  getPool,
  listVolumes,
  projectUrl,
  renameCustomVolume,
  updateCustomVolume,
  volumeKey,
  volumeProject,
  volumeUsedBy,
} from "../../db/mod.ts";
import type { StorageDriver } from "../../storage/mod.ts";
import { badRequest, etag, nameProblem, notFound, StatusError } from "../../util/mod.ts";
import { readJson } from "../body.ts";
import type { ApiEnv, Ctx, ServerContext } from "../context.ts";
import { emptySync, sync } from "../response.ts";
import { preconditionCheck, recursionOf } from "./instances_common.ts";

/** The driver of a pool on this member (the instance manager knows the drivers). */
export type PoolDriverOf = (pool: string) => Promise<StorageDriver>;

interface VolumeBody {
  name?: string;
  type?: string;
  description?: string;
  config?: Record<string, unknown>;
  content_type?: string;
}

const VOLUME_KEYS = ["size", "security.shifted", "security.unmapped"];

function volumeConfig(c: unknown): Record<string, string> {
  if (c !== undefined && (typeof c !== "object" || c === null || Array.isArray(c))) {
    throw badRequest("Invalid config: expected an object of strings");
  }
  const out = Object.fromEntries(Object.entries(c ?? {}).map(([k, v]) => [k, String(v)]));
  for (const k of Object.keys(out)) {
    if (!k.startsWith("user.") && !VOLUME_KEYS.includes(k)) throw badRequest(`Invalid option "${k}"`);
  }
  return out;
}

function volumeNameProblem(name: string): string | null {
  if (name === "") return "No name provided";
  return nameProblem("volume", name);
}

/** LXD's StorageVolume object. */
function volumeJSON(v: CustomVolume, usedBy: string[]): Record<string, unknown> {
  return {
    config: v.config,
    description: v.description,
    name: v.name,
    type: "custom",
    used_by: usedBy,
    location: v.location,
    content_type: "filesystem",
    project: v.project,
    created_at: v.created_at,
  };
}

/** A volume on another member: that member answers (forwarded with the caller's identity). */
function elsewhere(ctx: ServerContext, c: Ctx, member: string): Promise<Response> {
  return forwardTo(ctx, c, member);
}

/**
 * /1.0/storage-pools/POOL/volumes: custom volumes, each on one member. A request names the
 * member with ?target=, or the volume's name must be unique in the cluster (LXD's rule).
 */
export function storageVolumeRoutes(driverOf: PoolDriverOf): (ctx: ServerContext) => Hono<ApiEnv> {
  return (ctx) => {
    const app = new Hono<ApiEnv>();
    // The request's project; its volumes are its own or default's (features.storage.volumes),
    // named PROJECT_NAME on disk outside default.
    const pj = (c: Ctx) => c.req.query("project") || "default";
    const diskName = async (c: Ctx, name: string) =>
      volumeKey(await ctx.db.read((tx) => volumeProject(tx, pj(c)).name), name);
    const lc = (c: Ctx, action: string, pool: string, name: string) =>
      ctx.events.lifecycle(
        action,
        projectUrl(`/1.0/storage-pools/${pool}/volumes/custom/${name}`, pj(c)),
        {},
        pj(c),
      );
    /** Where a request about volume NAME runs: this member, or another (forwarded). */
    const whereIs = async (c: Ctx, pool: string, name: string): Promise<string> => {
      const target = c.req.query("target");
      if (target) {
        if (!ctx.clustered()) throw badRequest("Target only allowed when clustered");
        return target;
      }
      const vols = await ctx.db.read((tx) => findCustomVolumes(tx, pool, name, pj(c)));
      if (vols.length === 0) throw notFound("Storage volume not found");
      if (vols.length > 1) {
        throw badRequest(
          `More than one cluster member has a volume named "${name}". Please target a specific member`,
        );
      }
      return vols[0]!.location;
    };
    const here = (member: string) => !ctx.clustered() || member === ctx.location();
    /**
     * Whether this member keeps its images or backups on the volume (storage.images_volume,
     * storage.backups_volume: a default-project volume of its own), as LXD's VolumeUsedByDaemon.
     */
    const daemonUses = async (c: Ctx, pool: string, name: string) => {
      if ((await ctx.db.read((tx) => volumeProject(tx, pj(c)).name)) !== "default") return false;
      const local = ctx.local.config();
      return [local["storage.images_volume"], local["storage.backups_volume"]].includes(`${pool}/${name}`);
    };

    const list = (customOnly: boolean) => async (c: Ctx) => {
      const pool = c.req.param("pool")!;
      await ctx.db.read((tx) => getPool(tx, pool, ctx.location()));
      const { all, custom } = await ctx.db.read((tx) => ({
        all: customOnly ? [] : listVolumes(tx, pool).filter((v) => v.type !== "custom"),
        custom: findCustomVolumes(tx, pool, undefined, pj(c)).map((v) => ({
          v,
          used: volumeUsedBy(tx, pool, v.name, v.location, pj(c)),
        })),
      }));
      if (recursionOf(c) === 0) {
        return sync(c, [
          ...all.map((v) => `/1.0/storage-pools/${pool}/volumes/${v.type}/${v.name}`),
          ...custom.map(({ v }) =>
            `/1.0/storage-pools/${pool}/volumes/custom/${v.name}${
              ctx.clustered() ? `?target=${v.location}` : ""
            }`
          ),
        ]);
      }
      return sync(c, [
        ...all.map((v) => ({
          config: {},
          description: "",
          name: v.name,
          type: v.type,
          used_by: v.type === "container" ? [`/1.0/instances/${v.name}`] : [],
          location: v.location,
          content_type: "filesystem",
          project: "default",
          created_at: v.created_at,
        })),
        ...custom.map(({ v, used }) => volumeJSON(v, used)),
      ]);
    };
    app.get("/1.0/storage-pools/:pool/volumes", list(false));
    app.get("/1.0/storage-pools/:pool/volumes/custom", list(true));

    const create = async (c: Ctx) => {
      const pool = c.req.param("pool")!;
      const target = c.req.query("target");
      if (target && !ctx.clustered()) throw badRequest("Target only allowed when clustered");
      if (target && !here(target)) return await elsewhere(ctx, c, target);
      const b = await readJson<VolumeBody>(c);
      const name = b.name ?? "";
      const bad = volumeNameProblem(name);
      if (bad) throw badRequest(bad);
      if (b.type && b.type !== "custom") {
        throw badRequest(`Only custom volumes can be created, not "${b.type}"`);
      }
      if (b.content_type && b.content_type !== "filesystem") {
        throw badRequest(`Content type "${b.content_type}" is not supported: shoal has filesystem volumes`);
      }
      const config = volumeConfig(b.config);
      await ctx.db.read((tx) => getPool(tx, pool, ctx.location()));
      const exists = await ctx.db.read((tx) =>
        findCustomVolumes(tx, pool, name, pj(c)).some((v) =>
          v.location === ctx.location() || !ctx.clustered()
        )
      );
      if (exists) throw new StatusError(409, "Volume by that name already exists");
      const driver = await driverOf(pool);
      const onDisk = await diskName(c, name);
      await driver.createCustomVolume(onDisk);
      try {
        await ctx.db.run(createCustomVolume, {
          pool,
          name,
          description: b.description ?? "",
          config,
          member: ctx.location(),
          project: pj(c),
        });
      } catch (e) {
        await driver.deleteCustomVolume(onDisk).catch(() => {});
        throw e;
      }
      lc(c, "storage-volume-created", pool, name);
      return emptySync(c);
    };
    app.post("/1.0/storage-pools/:pool/volumes", create);
    app.post("/1.0/storage-pools/:pool/volumes/custom", create);

    app.get("/1.0/storage-pools/:pool/volumes/custom/:name", async (c) => {
      const pool = c.req.param("pool");
      const name = c.req.param("name");
      const member = await whereIs(c, pool, name);
      if (!here(member)) return await elsewhere(ctx, c, member);
      const { v, used } = await ctx.db.read((tx) => ({
        v: getCustomVolume(tx, pool, name, ctx.location(), pj(c)),
        used: volumeUsedBy(tx, pool, name, ctx.location(), pj(c)),
      }));
      // As LXD: a volume the member itself uses is used by "/1.0".
      const usedBy = (await daemonUses(c, pool, name)) ? ["/1.0", ...used] : used;
      return sync(c, volumeJSON(v, usedBy), { etag: etag([v.description, v.config]) });
    });

    const put = (patch: boolean) => async (c: Ctx) => {
      const pool = c.req.param("pool")!;
      const name = c.req.param("name")!;
      const member = await whereIs(c, pool, name);
      if (!here(member)) return await elsewhere(ctx, c, member);
      const cur = await ctx.db.read((tx) => getCustomVolume(tx, pool, name, ctx.location(), pj(c)));
      preconditionCheck(c, [cur.description, cur.config]);
      const b = await readJson<VolumeBody>(c);
      const config = volumeConfig(patch ? { ...cur.config, ...(b.config ?? {}) } : b.config);
      await ctx.db.run(updateCustomVolume, {
        pool,
        name,
        member: ctx.location(),
        description: b.description ?? (patch ? cur.description : ""),
        config,
        project: pj(c),
      });
      lc(c, "storage-volume-updated", pool, name);
      return emptySync(c);
    };
    app.put("/1.0/storage-pools/:pool/volumes/custom/:name", put(false));
    app.patch("/1.0/storage-pools/:pool/volumes/custom/:name", put(true));

    app.post("/1.0/storage-pools/:pool/volumes/custom/:name", async (c) => {
      const pool = c.req.param("pool");
      const name = c.req.param("name");
      const member = await whereIs(c, pool, name);
      if (!here(member)) return await elsewhere(ctx, c, member);
      const b = await readJson<VolumeBody & { pool?: string; migration?: boolean }>(c);
      if (b.migration || (b.pool && b.pool !== pool)) {
        throw badRequest("Moving volumes between pools or members is not supported yet");
      }
      const newName = b.name ?? "";
      const bad = volumeNameProblem(newName);
      if (bad) throw badRequest(bad);
      await ctx.db.read((tx) => getCustomVolume(tx, pool, name, ctx.location(), pj(c)));
      if (await daemonUses(c, pool, name)) {
        throw badRequest("Volume is used by LXD itself and cannot be renamed");
      }
      const driver = await driverOf(pool);
      const project = pj(c);
      await ctx.db.run(renameCustomVolume, { pool, name, member: ctx.location(), newName, project });
      try {
        await driver.renameCustomVolume(await diskName(c, name), await diskName(c, newName));
      } catch (e) {
        await ctx.db.run(renameCustomVolume, {
          pool,
          name: newName,
          member: ctx.location(),
          newName: name,
          project,
        });
        throw e;
      }
      lc(c, "storage-volume-renamed", pool, newName);
      c.header("Location", `/1.0/storage-pools/${pool}/volumes/custom/${newName}`);
      return emptySync(c);
    });

    app.delete("/1.0/storage-pools/:pool/volumes/custom/:name", async (c) => {
      const pool = c.req.param("pool");
      const name = c.req.param("name");
      const member = await whereIs(c, pool, name);
      if (!here(member)) return await elsewhere(ctx, c, member);
      // Its images or backups would go with it (LXD: still in use).
      if (await daemonUses(c, pool, name)) throw badRequest("The storage volume is still in use");
      const driver = await driverOf(pool);
      await ctx.db.run(deleteCustomVolume, { pool, name, member: ctx.location(), project: pj(c) });
      await driver.deleteCustomVolume(await diskName(c, name));
      lc(c, "storage-volume-deleted", pool, name);
      return emptySync(c);
    });
    return app;
  };
}
