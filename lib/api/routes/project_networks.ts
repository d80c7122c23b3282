/**
 * Networks in projects, as LXD 5.0 has them for the network types shoal runs: a project without
 * features.networks uses the default project's networks (the network routes serve it as is); a
 * project with it holds its own, and a bridge cannot be one of them (LXD: only OVN networks live
 * in other projects), so it has none and creating one is refused.
 */
import { Hono } from "hono";
import type { MiddlewareHandler } from "hono";
import { featureProject } from "../../db/mod.ts";
import { badRequest, notFound } from "../../util/mod.ts";
import type { ApiEnv, ServerContext } from "../context.ts";
import { sync } from "../response.ts";
import { projectOf } from "./instances_common.ts";

export function projectNetworkRoutes(ctx: ServerContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const own: MiddlewareHandler<ApiEnv> = async (c, next) => {
    const project = projectOf(c);
    if (project === "default") return await next();
    const where = await ctx.db.read((tx) => featureProject(tx, project, "networks"));
    if (where.id === 1) return await next();
    if (c.req.path === "/1.0/networks") {
      if (c.req.method === "GET") return sync(c, []);
      if (c.req.method === "POST") throw badRequest("Network type does not support non-default projects");
    }
    throw notFound("Network not found");
  };
  app.use("/1.0/networks", own);
  app.use("/1.0/networks/*", own);
  return app;
}
