import { Hono } from "hono";
import type { Cluster } from "../../cluster/mod.ts";
import {
  checkNewMemberName,
  memberWritable,
  planMemberUpdate,
  removalBlocker,
  renameMember,
  updateMember,
} from "../../cluster/member_update.ts";
import type { ClusterMemberPut } from "../../wire/mod.ts";
import { badRequest, etag, preconditionFailed, StatusError } from "../../util/mod.ts";
import { readJson } from "../body.ts";
import type { ApiEnv, Ctx, ServerContext } from "../context.ts";
import { emptySync } from "../response.ts";

function clusterOf(ctx: ServerContext): Cluster {
  if (!ctx.cluster?.self.clustered()) throw new StatusError(400, "Server is not clustered");
  return ctx.cluster;
}

async function updateRoute(ctx: ServerContext, c: Ctx, patch: boolean): Promise<Response> {
  const cl = clusterOf(ctx);
  const name = c.req.param("name")!;
  // The member list is read as this member has it: catch up first, so that the ETag and the
  // roles checked are those of the latest write anywhere in the cluster.
  await ctx.db.read(() => null);
  const current = await cl.members.get(name);
  const ifMatch = c.req.header("If-Match");
  if (ifMatch && ifMatch.replace(/"/g, "") !== etag(memberWritable(current))) {
    throw preconditionFailed();
  }
  const req = await readJson<ClusterMemberPut>(c);
  await ctx.db.run(updateMember, planMemberUpdate(current, req, patch));
  ctx.events.lifecycle("cluster-member-updated", `/1.0/cluster/members/${encodeURIComponent(name)}`);
  return emptySync(c);
}

/**
 * Managing members (LXD's PUT/PATCH/POST of /1.0/cluster/members/NAME, and the checks before a
 * clean DELETE). Mounted ahead of the cluster routes, whose DELETE carries out the removal.
 */
export function clusterMemberRoutes(ctx: ServerContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();

  app.put("/1.0/cluster/members/:name", (c) => updateRoute(ctx, c, false));
  app.patch("/1.0/cluster/members/:name", (c) => updateRoute(ctx, c, true));

  app.post("/1.0/cluster/members/:name", async (c) => {
    clusterOf(ctx);
    const name = c.req.param("name");
    const req = await readJson<{ server_name?: unknown }>(c);
    const newName = checkNewMemberName(req?.server_name);
    await ctx.db.run(renameMember, { name, newName });
    ctx.events.lifecycle("cluster-member-renamed", `/1.0/cluster/members/${encodeURIComponent(newName)}`, {
      old_name: name,
    });
    return emptySync(c);
  });

  // A clean removal is refused while the member holds what exists nowhere else.
  app.delete("/1.0/cluster/members/:name", async (c, next) => {
    clusterOf(ctx);
    const force = ["1", "true"].includes(c.req.query("force") ?? "");
    if (!force) {
      const name = c.req.param("name");
      const blocker = await ctx.db.read((tx) => removalBlocker(tx, name));
      if (blocker) throw badRequest(blocker);
    }
    await next();
  });
  return app;
}
