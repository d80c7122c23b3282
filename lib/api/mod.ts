/**
 * shoal's REST API in LXD's wire format: one Hono app per member, served on the unix socket
 * and over HTTPS with mutual TLS. Route modules register per resource; errors become LXD's
 * error envelope in one place.
 * @module
 */
import { Hono, type MiddlewareHandler } from "hono";
import { METRICS } from "../util/metrics.ts";
import { errorMessage, StatusError } from "../util/mod.ts";
import { identify } from "./auth.ts";
import { enforceAccess, handlerRoute } from "./access.ts";
import { forwardTarget } from "./target.ts";
import { refuseCrossSite } from "./browser.ts";
import { uiRoutes } from "./routes/ui.ts";
import { refuseMalformedUrl, withoutHostPaths } from "./guards.ts";
import type { ApiEnv, ServerContext } from "./context.ts";
import { error } from "./response.ts";
import { MethodIndex } from "./methods.ts";
import { publicServerRoutes, serverRoutes } from "./routes/server.ts";
import { certificateRoutes, publicCertificateRoutes } from "./routes/certificates.ts";
import { operationRoutes } from "./routes/operations.ts";
import { eventsRoutes } from "./routes/events.ts";
import { clusterRoutes } from "./routes/cluster.ts";
import { clusterDay2Routes } from "./routes/cluster_day2.ts";
import { clusterMemberRoutes } from "./routes/cluster_members.ts";
import { resourcesRoutes } from "./routes/resources.ts";
import { projectRoutes } from "./routes/projects.ts";
import { clusterGroupRoutes } from "./routes/cluster_groups.ts";
import { warningRoutes } from "./routes/warnings.ts";

export type { ApiEnv, Ctx, Identity, Peer, ServerContext } from "./context.ts";
export { authenticate, callerHeader, FORWARDED_CALLER, primeTrust } from "./auth.ts";
export { EVENTS_BACKLOG_MAX, frameLimit, websocketRoute, type WsHandler } from "./websocket.ts";
export { API_EXTENSIONS } from "./extensions.ts";
export { async, emptySync, error, errorBody, sync } from "./response.ts";
export { readJson } from "./body.ts";
export { crossSiteRefusal } from "./browser.ts";
export { containersAlias } from "./aliases.ts";
export { forwardTo, TARGET_ROUTES, targetOf } from "./target.ts";
export { decodeToken, encodeToken, randomSecret, secretsEqual } from "../wire/tokens.ts";
export { hashPassword, verifyPassword } from "./password.ts";

/** Extra route modules, mounted after the built-in ones (trusted callers only). */
export type RouteModule = (ctx: ServerContext) => Hono<ApiEnv>;

/** Builds the app of one member. */
export function createApp(ctx: ServerContext, extra: RouteModule[] = []): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  // A URL that does not decode never reaches a handler (guards.ts).
  app.use("*", refuseMalformedUrl());
  app.use("*", countRequests());
  // A page of another site must not use a browser's trusted certificate (browser.ts).
  app.use("*", refuseCrossSite());
  app.use("*", identify(ctx));
  // Who may call each route is declared in access.ts and decided here, before any handler.
  app.use("*", enforceAccess());
  // ?target= on routes whose answer is one member's: that member answers (target.ts).
  app.use("*", forwardTarget(ctx));
  // Open to everyone: what an untrusted client needs to see the server and ask for trust.
  app.route("/", publicServerRoutes(ctx));
  app.route("/", publicCertificateRoutes(ctx));
  app.route("/", uiRoutes());
  app.route("/", serverRoutes(ctx));
  app.route("/", certificateRoutes(ctx));
  app.route("/", operationRoutes(ctx));
  app.route("/", eventsRoutes(ctx));
  // Ahead of clusterRoutes: its member DELETE runs after the checks there.
  app.route("/", clusterMemberRoutes(ctx));
  app.route("/", clusterRoutes(ctx));
  app.route("/", resourcesRoutes(ctx));
  app.route("/", projectRoutes(ctx));
  app.route("/", clusterDay2Routes(ctx));
  app.route("/", clusterGroupRoutes(ctx));
  app.route("/", warningRoutes(ctx));
  for (const m of extra) app.route("/", m(ctx));
  const methods = new MethodIndex(app);
  app.notFound((c) => {
    // As LXD: a known path asked with another method names the method; anything else is "not found".
    if (methods.methodsFor(c.req.path).length > 0) return error(404, `Method "${c.req.method}" not found`);
    return error(404, "not found");
  });
  app.onError((e, c) => {
    if (e instanceof StatusError) return error(e.status, e.message);
    // Only decoders throw URIError: what they were given came with the request.
    if (e instanceof URIError) return error(400, `Invalid request: ${e.message}`);
    ctx.log.error("Request failed", { err: errorMessage(e), method: c.req.method, url: c.req.path });
    return error(500, withoutHostPaths(errorMessage(e)));
  });
  return app;
}

const requests = METRICS.counter("shoal_api_requests_total", "API requests answered, by route and status.");
const requestSeconds = METRICS.histogram(
  "shoal_api_request_duration_seconds",
  "Time to answer an API request.",
);

/** A route's series, found once: building and sorting label keys per request showed in profiles. */
type RouteSeries = { seconds: (s: number) => void; byStatus: Map<string, { v: number }> };
const seriesOf = new Map<string, RouteSeries>();

/** Counts every request by its route's pattern (not its path: names would make endless series). */
function countRequests(): MiddlewareHandler<ApiEnv> {
  return async function count(c, next) {
    const t = performance.now();
    await next();
    const route = handlerRoute(c)?.path ?? "unmatched";
    if (route === "/internal/heartbeat" || route === "/internal/metrics") return;
    let s = seriesOf.get(route);
    if (!s) seriesOf.set(route, s = { seconds: requestSeconds.observer({ route }), byStatus: new Map() });
    const method = c.req.method, status = String(c.res.status), k = `${method} ${status}`;
    let n = s.byStatus.get(k);
    if (!n) s.byStatus.set(k, n = requests.series({ method, route, status }));
    n.v++;
    s.seconds((performance.now() - t) / 1000);
  };
}
