import { Hono } from "hono";
import { type EvacuateMode, type Evacuations, modeProblem } from "../../cluster/mod.ts";
import { badRequest, StatusError } from "../../util/mod.ts";
import { readJson } from "../body.ts";
import type { ApiEnv, ServerContext } from "../context.ts";
import { async } from "../response.ts";
import { forwardTo } from "../target.ts";

/** LXD's operation descriptions (operationtype ClusterMemberEvacuate and ClusterMemberRestore). */
const DESCRIPTION = { evacuate: "Evacuating cluster member", restore: "Restoring cluster member" } as const;

/** Whether another member runs an evacuation now (LXD refuses a second one anywhere in the cluster). */
async function evacuationElsewhere(ctx: ServerContext, name: string): Promise<string | null> {
  const others = ctx.cluster!.routing.members().filter((m) => !m.self && m.online);
  const found = await Promise.all(others.map(async (m) => {
    try {
      const ops = await ctx.askMember!<Record<string, { description?: string }[] | null>>(
        m.name,
        "/1.0/operations?recursion=1",
      );
      return (ops.running ?? []).some((o) => o.description === DESCRIPTION.evacuate) ? m.name : null;
    } catch {
      return null;
    }
  }));
  const busy = found.find((x) => x !== null);
  return busy ? `Cannot evacuate "${name}" while another cluster member evacuation is in progress` : null;
}

/**
 * POST /1.0/cluster/members/NAME/state (clustering_evacuation): evacuate or restore a member.
 * The request runs on the member named, as in LXD: it stops its own instances and knows
 * whether an evacuation of its own is under way.
 */
export function evacuationRoutes(evac: Evacuations): (ctx: ServerContext) => Hono<ApiEnv> {
  return (ctx) => {
    const app = new Hono<ApiEnv>();
    app.post("/1.0/cluster/members/:name/state", async (c) => {
      const cl = ctx.cluster;
      if (!cl || !ctx.clustered()) throw new StatusError(400, "This server is not clustered");
      const name = c.req.param("name");
      cl.routing.resolve(name);
      if (name !== ctx.serverName()) return await forwardTo(ctx, c, name);
      const req = await readJson<{ action?: unknown; mode?: unknown; force?: unknown }>(c);
      const action = req?.action;
      if (action !== "evacuate" && action !== "restore") {
        throw badRequest(`Unknown action ${JSON.stringify(typeof action === "string" ? action : "")}`);
      }
      const force = req.force === true;
      let mode: EvacuateMode = "";
      if (action === "evacuate") {
        const problem = modeProblem(req.mode);
        if (problem) throw badRequest(problem);
        mode = (req.mode ?? "") as EvacuateMode;
      } else if (req.mode !== undefined && req.mode !== "" && req.mode !== "skip") {
        throw badRequest(`Invalid mode: ${JSON.stringify(req.mode)}`);
      }
      await evac.check(action, force);
      if (action === "evacuate") {
        const busy = await evacuationElsewhere(ctx, name);
        if (busy) throw badRequest(busy);
      }
      const op = ctx.operations.create({
        class: "task",
        description: DESCRIPTION[action],
        resources: { cluster: [`/1.0/cluster/members/${encodeURIComponent(name)}`] },
        run: async (op) => {
          const progress = (text: string) => op.updateMetadata({ evacuation_progress: text });
          if (action === "evacuate") await evac.evacuate(mode, force, progress);
          else await evac.restore(req.mode === "skip", progress);
        },
      });
      return async(c, op.toJSON());
    });
    return app;
  };
}
