import { Hono } from "hono";
import { badRequest } from "../../util/mod.ts";
import type { ApiEnv, ServerContext } from "../context.ts";
import { sync } from "../response.ts";
import { websocketRoute } from "../websocket.ts";

/**
 * GET /1.0/events without a websocket upgrade: the listeners upgrade real event streams before
 * the app sees them, so what arrives here is a plain request. It gets the error the upgrade
 * would have got (a bad ?type=, say), else LXD's words for a missing upgrade. Clients whose
 * websocket failed ask again this way to learn why.
 */
export function eventsRoutes(ctx: ServerContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get("/1.0/events", (c) => {
    websocketRoute(ctx, new URL(c.req.url), c.var.identity);
    throw badRequest(
      "websocket: the client is not using the websocket protocol: 'upgrade' token not found in 'Connection' header",
    );
  });
  // A member that connected to our stream late (we just joined, or it was away) asks for what it
  // missed: our own events since ?since= (ms since epoch), from the last 30 s.
  app.get("/internal/events/recent", (c) => {
    const since = Number(c.req.query("since") ?? "0");
    return sync(c, ctx.events.recent(Number.isFinite(since) ? since : 0));
  });
  return app;
}
