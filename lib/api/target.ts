/**
 * `?target=MEMBER` and forwarding: a request about something another member holds (its own
 * view of the server, its resources, its side of a storage pool, an instance it runs) is
 * answered by that member, through the member the client talks to. Other route modules forward
 * with forwardTo; routes whose whole answer is the target member's are listed in TARGET_ROUTES.
 */
import type { MiddlewareHandler } from "hono";
import { StatusError } from "../util/mod.ts";
import type { ApiEnv, Ctx, ServerContext } from "./context.ts";
import { handlerRoute } from "./access.ts";

/**
 * The routes answered by the member ?target= names, as LXD 5.0 takes it ("METHOD /pattern").
 * Creating an instance takes ?target= too, with placement (routes/instances.ts); a pool's and a
 * network's member keys are read and written through the database (routes/storage.ts).
 */
export const TARGET_ROUTES: Set<string> = new Set([
  "GET /1.0",
  "PUT /1.0",
  "PATCH /1.0",
  "GET /1.0/resources",
  "GET /1.0/storage-pools/:name/resources",
  "GET /1.0/operations",
  "GET /1.0/warnings",
]);

/**
 * Sends this request to member and answers with its reply. A request a member already
 * forwarded here is never sent on again: two members whose databases disagree for a moment must
 * not pass a request back and forth.
 */
export async function forwardTo(ctx: ServerContext, c: Ctx, member: string): Promise<Response> {
  if (!ctx.clustered() || !ctx.forward) {
    throw new StatusError(400, "This server is not clustered: --target is for cluster members");
  }
  if (c.var.forwardedBy !== undefined) {
    throw new StatusError(
      503,
      `Member "${c.var.forwardedBy}" forwarded this request to "${ctx.location()}", but it is for "${member}": the members' databases disagree for a moment, try again`,
    );
  }
  return await ctx.forward(member, c.req.raw, c.var.identity);
}

/** Whether ?target= names another member than this one (standalone: "none" or empty is this one). */
export function targetOf(ctx: ServerContext, c: Ctx): string | null {
  // Most requests carry no query at all: no parameter to look for.
  if (!c.req.url.includes("?")) return null;
  const t = c.req.query("target");
  if (t === undefined || t === "" || t === ctx.location()) return null;
  return t;
}

/** Forwards the requests of TARGET_ROUTES whose ?target= names another member. */
export function forwardTarget(ctx: ServerContext): MiddlewareHandler<ApiEnv> {
  return async function targetMember(c, next) {
    const target = targetOf(ctx, c);
    if (target !== null) {
      const handler = handlerRoute(c);
      if (handler && TARGET_ROUTES.has(`${handler.method} ${handler.path}`)) {
        c.res = await forwardTo(ctx, c, target);
        return;
      }
    }
    await next();
  };
}
