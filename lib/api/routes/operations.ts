import { Hono } from "hono";
import type { Operation, RemoteOperations } from "../../operations/mod.ts";
import { notFound } from "../../util/mod.ts";
import type { ApiEnv, Ctx, ServerContext } from "../context.ts";
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

/**
 * Operations on other members, for a request not from a member: LXD lists every member's and
 * sends a request about one to the member that has it. Members asking answer with their own.
 */
function remoteOf(ctx: ServerContext, c: Ctx): RemoteOperations | null {
  // A request another member forwarded here (?target=) is about this member's own, too.
  if (c.var.forwardedBy !== undefined) return null;
  return c.var.identity.protocol === "cluster" ? null : ctx.operations.remote;
}

/** This request's path and query, to send on unchanged. */
function pathAndQuery(c: Ctx): string {
  const u = new URL(c.req.url);
  return u.pathname + u.search;
}

/** Answers a request about operation id from the member that has it, or LXD's 404. */
async function forwarded(ctx: ServerContext, c: Ctx, id: string): Promise<Response> {
  const remote = remoteOf(ctx, c);
  const r = remote ? await remote.forward(id, c.req.method, pathAndQuery(c), c.req.raw.signal) : null;
  if (!r) throw notFound("Operation not found");
  return r;
}

/** /1.0/operations (trusted). */
export function operationRoutes(ctx: ServerContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  // An operation of a project a restricted client has no part in is, to it, not there.
  const find = (c: Ctx) => {
    const op = ctx.operations.find(c.req.param("id")!);
    const id = c.var.identity;
    return op && id.kind === "restricted" && !id.projects.includes(op.project) ? null : op;
  };
  app.get("/1.0/operations", async (c) => {
    // A restricted client sees its project's operations only, whatever it asks for.
    const project = c.req.query("all-projects") === "true" && c.var.identity.kind !== "restricted"
      ? undefined
      : (c.req.query("project") || "default");
    const recursion = (c.req.query("recursion") ?? "0") !== "0";
    const out = byStatus(ctx.operations.list(project), recursion);
    const remote = remoteOf(ctx, c);
    if (remote) {
      for (const theirs of await remote.list(pathAndQuery(c), c.req.raw.signal)) {
        for (const [status, ops] of Object.entries(theirs)) (out[status] ??= []).push(...ops);
      }
    }
    return sync(c, out);
  });
  app.get("/1.0/operations/:id", (c) => {
    const op = find(c);
    return op ? sync(c, op.toJSON()) : forwarded(ctx, c, c.req.param("id"));
  });
  app.delete("/1.0/operations/:id", (c) => {
    const op = find(c);
    if (!op) return forwarded(ctx, c, c.req.param("id"));
    op.cancel();
    return emptySync(c);
  });
  app.get("/1.0/operations/:id/wait", async (c) => {
    const op = find(c);
    if (!op) return await forwarded(ctx, c, c.req.param("id"));
    const timeout = Number(c.req.query("timeout") ?? "-1");
    await waitFor(op, Number.isFinite(timeout) ? timeout : -1, c.req.raw.signal);
    return sync(c, op.toJSON());
  });
  return app;
}
