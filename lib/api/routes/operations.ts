import { Hono } from "hono";
import type { Operation } from "../../operations/mod.ts";
import type { ApiEnv, ServerContext } from "../context.ts";
import { emptySync, sync } from "../response.ts";

/** GET /1.0/operations groups operations by their status in lower case, as LXD. */
function byStatus(ops: Operation[], recursion: boolean): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const op of ops) {
    const key = op.status.toLowerCase();
    (out[key] ??= []).push(recursion ? op.toJSON() : `/1.0/operations/${op.id}`);
  }
  return out;
}

/** Waits for an operation to finish or for timeout seconds (-1: no limit), or until the client goes. */
async function waitFor(op: Operation, timeoutSeconds: number, signal: AbortSignal): Promise<void> {
  const waits: Promise<unknown>[] = [op.done()];
  let t: ReturnType<typeof setTimeout> | undefined;
  if (timeoutSeconds >= 0) waits.push(new Promise((r) => (t = setTimeout(r, timeoutSeconds * 1000))));
  waits.push(new Promise((r) => signal.addEventListener("abort", r, { once: true })));
  await Promise.race(waits);
  clearTimeout(t);
}

/** /1.0/operations (trusted). */
export function operationRoutes(ctx: ServerContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get("/1.0/operations", (c) => {
    const project = c.req.query("all-projects") === "true"
      ? undefined
      : (c.req.query("project") ?? "default");
    const recursion = (c.req.query("recursion") ?? "0") !== "0";
    return sync(c, byStatus(ctx.operations.list(project), recursion));
  });
  app.get("/1.0/operations/:id", (c) => sync(c, ctx.operations.get(c.req.param("id")).toJSON()));
  app.delete("/1.0/operations/:id", (c) => {
    ctx.operations.get(c.req.param("id")).cancel();
    return emptySync(c);
  });
  app.get("/1.0/operations/:id/wait", async (c) => {
    const op = ctx.operations.get(c.req.param("id"));
    const timeout = Number(c.req.query("timeout") ?? "-1");
    await waitFor(op, Number.isFinite(timeout) ? timeout : -1, c.req.raw.signal);
    return sync(c, op.toJSON());
  });
  return app;
}
