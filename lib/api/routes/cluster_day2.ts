import { Hono } from "hono";
import type { Cluster } from "../../cluster/mod.ts";
import { memberState, removeRaftNode, runDoctor } from "../../cluster/mod.ts";
import { badRequest, canonicalAddress, StatusError } from "../../util/mod.ts";
import type { ApiEnv, ServerContext } from "../context.ts";
import { emptySync, sync } from "../response.ts";

function clusterOf(ctx: ServerContext): Cluster {
  if (!ctx.cluster || !ctx.clustered()) throw new StatusError(400, "This server is not clustered");
  return ctx.cluster;
}

/**
 * Day-2 operations: a leftover Raft member's removal (`shoald cluster remove-raft-node`, LXD's
 * route), each member's own view for the doctor, and the doctor itself (`shoal cluster doctor`).
 */
export function clusterDay2Routes(ctx: ServerContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.delete("/internal/cluster/raft-node/:address", async (c) => {
    const raw = decodeURIComponent(c.req.param("address"));
    if (raw.trim() === "") throw badRequest("No address given");
    const cl = clusterOf(ctx);
    await removeRaftNode(cl.self, cl.forwarding, canonicalAddress(raw));
    return emptySync(c);
  });
  app.get("/internal/cluster/state", async (c) => {
    const cl = clusterOf(ctx);
    return sync(c, await memberState(cl.self, cl.heartbeats, cl.upgrade));
  });
  app.get("/internal/cluster/doctor", async (c) => {
    const cl = clusterOf(ctx);
    return sync(c, await runDoctor(cl.self, cl.heartbeats, cl.upgrade));
  });
  return app;
}
