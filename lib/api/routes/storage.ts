import { Hono } from "hono";
import { createPool, deletePool, getPool, listPools, listVolumes, type PoolRecord } from "../../db/mod.ts";
import { DirPool, validatePool } from "../../storage/mod.ts";
import { badRequest, checkName, etag } from "../../util/mod.ts";
import { readJson } from "../body.ts";
import type { ApiEnv, ServerContext } from "../context.ts";
import { emptySync, sync } from "../response.ts";

/** LXD's StoragePool object. */
function poolJSON(p: PoolRecord, usedBy: string[]): Record<string, unknown> {
  return {
    config: p.config,
    description: p.description,
    name: p.name,
    driver: p.driver,
    used_by: usedBy,
    status: p.status,
    locations: p.locations,
  };
}

/** /1.0/storage-pools: the dir driver, for real, under $SHOAL_DIR/storage-pools/NAME. */
export function storageRoutes(poolsDir: string): (ctx: ServerContext) => Hono<ApiEnv> {
  return (ctx) => {
    const app = new Hono<ApiEnv>();
    const usedBy = async (pool: string): Promise<string[]> => {
      const vols = await ctx.db.read((tx) => listVolumes(tx, pool));
      const profiles = await ctx.db.read((tx) =>
        tx.query<{ name: string }>(
          `SELECT DISTINCT profiles.name FROM profiles JOIN profiles_devices ON profiles_devices.profile_id = profiles.id
             JOIN profiles_devices_config ON profiles_devices_config.profile_device_id = profiles_devices.id
            WHERE profiles_devices.type = 2 AND profiles_devices_config.key = 'pool' AND profiles_devices_config.value = ?
            ORDER BY profiles.name`,
          pool,
        )
      );
      return [
        ...vols.filter((v) => v.type === "container").map((v) => `/1.0/instances/${v.name}`),
        ...profiles.map((p) => `/1.0/profiles/${p.name}`),
      ];
    };
    app.get("/1.0/storage-pools", async (c) => {
      const pools = await ctx.db.read((tx) => listPools(tx, ctx.location()));
      if ((c.req.query("recursion") ?? "0") === "0") {
        return sync(
          c,
          pools.map((p) => `/1.0/storage-pools/${p.name}`),
        );
      }
      return sync(c, await Promise.all(pools.map(async (p) => poolJSON(p, await usedBy(p.name)))));
    });
    app.post("/1.0/storage-pools", async (c) => {
      const b = await readJson<
        { name?: string; driver?: string; description?: string; config?: Record<string, string> }
      >(c);
      if (b.name === undefined || b.name === "") throw badRequest("No name provided");
      checkName("pool", b.name);
      if (!b.driver) throw badRequest("No driver provided");
      const config = Object.fromEntries(Object.entries(b.config ?? {}).map(([k, v]) => [k, String(v)]));
      validatePool(b.driver, config);
      const driver = new DirPool(b.name, poolsDir, config.source);
      if (!config.source) config.source = driver.path;
      await driver.create();
      try {
        await ctx.db.run(createPool, {
          name: b.name,
          driver: b.driver,
          description: b.description ?? "",
          config,
          member: ctx.location(),
        });
      } catch (e) {
        // Only remove what this request made: a pool that already existed keeps its directory.
        if (!(e instanceof Error && /already exists/.test(e.message))) await driver.delete();
        throw e;
      }
      ctx.events.lifecycle("storage-pool-created", `/1.0/storage-pools/${b.name}`);
      c.header("Location", `/1.0/storage-pools/${b.name}`);
      return sync(c, {});
    });
    app.get("/1.0/storage-pools/:name", async (c) => {
      const p = await ctx.db.read((tx) => getPool(tx, c.req.param("name"), ctx.location()));
      return sync(c, poolJSON(p, await usedBy(p.name)), { etag: etag([p.description, p.config]) });
    });
    app.delete("/1.0/storage-pools/:name", async (c) => {
      const name = c.req.param("name");
      const p = await ctx.db.read((tx) => getPool(tx, name, ctx.location()));
      if ((await usedBy(name)).length > 0) throw badRequest("The storage pool is currently in use");
      await ctx.db.run(deletePool, { name });
      await new DirPool(p.name, poolsDir, p.config.source).delete();
      ctx.events.lifecycle("storage-pool-deleted", `/1.0/storage-pools/${name}`);
      return emptySync(c);
    });
    return app;
  };
}
