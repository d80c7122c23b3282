import { Hono } from "hono";
import { getPool } from "../../db/mod.ts";
import { machineResources, pathResources } from "../../resources/mod.ts";
import type { ApiEnv, ServerContext } from "../context.ts";
import { systemFacts } from "../environment.ts";
import { sync } from "../response.ts";

/**
 * GET /1.0/resources and a pool's resources: this member's (another member's through
 * ?target=, forwarded before these handlers run).
 */
export function resourcesRoutes(ctx: ServerContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get("/1.0/resources", async (c) => sync(c, await machineResources(systemFacts().kernel_architecture)));
  app.get("/1.0/storage-pools/:name/resources", async (c) => {
    const p = await ctx.db.read((tx) => getPool(tx, c.req.param("name"), ctx.location()));
    return sync(c, await pathResources(p.config.source ?? ""));
  });
  return app;
}
