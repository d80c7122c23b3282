/**
 * Who may call each route, declared once per route and enforced before any handler runs. A route
 * without a declaration answers nobody but the unix socket (and the table test fails), so a new
 * route cannot be added without deciding who may call it.
 *
 * Callers (auth.ts): the unix socket (root's), a current member, a trusted client, a restricted
 * client (its projects only, as LXD), untrusted. Access levels:
 * - public: everyone (what an untrusted client needs to see the server and ask for trust);
 * - joiner: members, and a joining server's own certificate (the handler checks its secret);
 * - joining: as project, and a joining server too (it reads what it must answer to join);
 * - self: trusted clients, restricted ones too (the handler shows and changes only their own);
 * - project: trusted clients; restricted ones only in a project of theirs (?project=, default
 *   "default");
 * - admin: unrestricted clients, members and the unix socket (server, cluster, storage and trust
 *   configuration);
 * - metrics: what admin allows, restricted clients (their projects' instances only) and
 *   certificates of type metrics (LXD's rule for /1.0/metrics);
 * - member: other members, and the unix socket (member-to-member calls under /internal);
 * - unix: the unix socket only (the daemon's own admin commands).
 */
import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { RouterRoute } from "hono/types";
import { forbidden } from "../util/mod.ts";
import type { ApiEnv, Ctx, Identity } from "./context.ts";

export type Access =
  | "public"
  | "joiner"
  | "joining"
  | "self"
  | "project"
  | "admin"
  | "metrics"
  | "member"
  | "unix";

/** Every route of the API ("METHOD /path/:param"), with who may call it. */
export const ROUTE_ACCESS: Record<string, Access> = {
  "GET /": "public",
  "GET /1.0": "public",
  "PUT /1.0": "admin",
  "PATCH /1.0": "admin",

  "GET /1.0/certificates": "self",
  "POST /1.0/certificates": "public",
  "GET /1.0/certificates/:fp": "self",
  "PUT /1.0/certificates/:fp": "self",
  "PATCH /1.0/certificates/:fp": "self",
  "DELETE /1.0/certificates/:fp": "self",

  "GET /1.0/cluster": "joining",
  "PUT /1.0/cluster": "admin",
  "PUT /1.0/cluster/certificate": "admin",
  // Warnings speak of members and the host: an administrator's (LXD: not for restricted clients).
  "GET /1.0/warnings": "admin",
  "GET /1.0/warnings/:uuid": "admin",
  "PUT /1.0/warnings/:uuid": "admin",
  "PATCH /1.0/warnings/:uuid": "admin",
  "DELETE /1.0/warnings/:uuid": "admin",
  "GET /1.0/cluster/groups": "project",
  "POST /1.0/cluster/groups": "admin",
  "GET /1.0/cluster/groups/:name": "project",
  "PUT /1.0/cluster/groups/:name": "admin",
  "PATCH /1.0/cluster/groups/:name": "admin",
  "POST /1.0/cluster/groups/:name": "admin",
  "DELETE /1.0/cluster/groups/:name": "admin",
  "GET /1.0/cluster/members": "project",
  "POST /1.0/cluster/members": "admin",
  "GET /1.0/cluster/members/:name": "project",
  "PUT /1.0/cluster/members/:name": "admin",
  "PATCH /1.0/cluster/members/:name": "admin",
  "POST /1.0/cluster/members/:name": "admin",
  "DELETE /1.0/cluster/members/:name": "admin",
  "POST /1.0/cluster/members/:name/state": "admin",

  "GET /1.0/events": "project",

  // What a member has (LXD: any authenticated client).
  "GET /1.0/resources": "self",
  "GET /1.0/storage-pools/:name/resources": "project",

  "GET /1.0/images": "project",
  "POST /1.0/images": "project",
  "GET /1.0/images/:fp": "project",
  "PUT /1.0/images/:fp": "project",
  "PATCH /1.0/images/:fp": "project",
  "DELETE /1.0/images/:fp": "project",
  "GET /1.0/images/:fp/export": "project",
  "GET /1.0/images/aliases": "project",
  "POST /1.0/images/aliases": "project",
  "GET /1.0/images/aliases/:name": "project",
  "PUT /1.0/images/aliases/:name": "project",
  "PATCH /1.0/images/aliases/:name": "project",
  "DELETE /1.0/images/aliases/:name": "project",

  "GET /1.0/instances": "project",
  "POST /1.0/instances": "project",
  "GET /1.0/instances/:name": "project",
  "PUT /1.0/instances/:name": "project",
  "PATCH /1.0/instances/:name": "project",
  "DELETE /1.0/instances/:name": "project",
  "POST /1.0/instances/:name": "project",
  "GET /1.0/instances/:name/console": "project",
  "POST /1.0/instances/:name/console": "project",
  "GET /1.0/instances/:name/snapshots": "project",
  "POST /1.0/instances/:name/snapshots": "project",
  "GET /1.0/instances/:name/snapshots/:snap": "project",
  "PUT /1.0/instances/:name/snapshots/:snap": "project",
  "PATCH /1.0/instances/:name/snapshots/:snap": "project",
  "POST /1.0/instances/:name/snapshots/:snap": "project",
  "DELETE /1.0/instances/:name/snapshots/:snap": "project",
  "DELETE /1.0/instances/:name/console": "project",
  "POST /1.0/instances/:name/exec": "project",
  "GET /1.0/instances/:name/files": "project",
  "HEAD /1.0/instances/:name/files": "project",
  "POST /1.0/instances/:name/files": "project",
  "DELETE /1.0/instances/:name/files": "project",
  "GET /1.0/instances/:name/logs": "project",
  "GET /1.0/instances/:name/logs/:file": "project",
  "DELETE /1.0/instances/:name/logs/:file": "project",
  "GET /1.0/instances/:name/state": "project",
  "PUT /1.0/instances/:name/state": "project",

  "GET /1.0/metrics": "metrics",

  // The cluster page's static files: no data in them, the page asks the API for everything.
  "GET /ui": "public",
  "GET /ui/": "public",
  "GET /ui/:file": "public",

  "GET /1.0/networks": "project",
  "POST /1.0/networks": "admin",
  "GET /1.0/networks/:name": "project",
  "PUT /1.0/networks/:name": "admin",
  "PATCH /1.0/networks/:name": "admin",
  "DELETE /1.0/networks/:name": "admin",
  "GET /1.0/networks/:name/leases": "project",

  "GET /1.0/operations": "project",
  "GET /1.0/operations/:id": "project",
  "DELETE /1.0/operations/:id": "project",
  "GET /1.0/operations/:id/wait": "project",

  "GET /1.0/profiles": "project",
  "POST /1.0/profiles": "project",
  "GET /1.0/profiles/:name": "project",
  "PUT /1.0/profiles/:name": "project",
  "PATCH /1.0/profiles/:name": "project",
  "DELETE /1.0/profiles/:name": "project",

  // Restricted clients list and read their own projects; changing one is the admin's (LXD 5.0
  // gives restricted certificates no manage-projects permission).
  "GET /1.0/projects": "self",
  "POST /1.0/projects": "admin",
  "GET /1.0/projects/:name": "project",
  "PUT /1.0/projects/:name": "admin",
  "PATCH /1.0/projects/:name": "admin",
  "POST /1.0/projects/:name": "admin",
  "DELETE /1.0/projects/:name": "admin",
  "GET /1.0/projects/:name/state": "project",

  "GET /1.0/storage-pools": "project",
  "POST /1.0/storage-pools": "admin",
  "GET /1.0/storage-pools/:name": "project",
  "PUT /1.0/storage-pools/:name": "admin",
  "PATCH /1.0/storage-pools/:name": "admin",
  "DELETE /1.0/storage-pools/:name": "admin",
  "GET /1.0/storage-pools/:pool/volumes": "project",
  "POST /1.0/storage-pools/:pool/volumes": "project",
  "GET /1.0/storage-pools/:pool/volumes/custom": "project",
  "POST /1.0/storage-pools/:pool/volumes/custom": "project",
  "GET /1.0/storage-pools/:pool/volumes/custom/:name": "project",
  "PUT /1.0/storage-pools/:pool/volumes/custom/:name": "project",
  "PATCH /1.0/storage-pools/:pool/volumes/custom/:name": "project",
  "POST /1.0/storage-pools/:pool/volumes/custom/:name": "project",
  "DELETE /1.0/storage-pools/:pool/volumes/custom/:name": "project",

  "POST /internal/cluster/accept": "joiner",
  "PUT /internal/cluster/certificate": "member",
  "GET /internal/cluster/doctor": "admin",
  "DELETE /internal/cluster/raft-node/:address": "member",
  "GET /internal/cluster/state": "member",
  "POST /internal/cluster/handover": "member",
  "POST /internal/cluster/left": "member",
  "POST /internal/cluster/rebalance": "member",
  "POST /internal/cluster/redeem-token": "member",
  "GET /internal/events/recent": "member",
  "PUT /internal/heartbeat": "member",
  // A moved or copied instance's volume, member to member (lib/cluster/instance_moves.ts).
  "POST /internal/migrations/offer": "member",
  "GET /internal/migrations/:id/volume": "member",
  "POST /internal/migrations/arrive": "member",
  "GET /internal/metrics": "member",
  "GET /internal/raft/status": "member",
  "GET /internal/ready": "member",
  "PUT /internal/storage-pools/:name": "member",
  "PUT /internal/networks/:name": "member",
  "PUT /internal/shutdown": "unix",
  "GET /internal/sql": "unix",
  "POST /internal/sql": "unix",
};

/** The websocket endpoints, answered by the listeners before the app (websocket.ts). */
export const WEBSOCKET_ACCESS: Record<string, Access> = {
  "GET /1.0/events": "project",
  "GET /internal/raft": "member",
  "GET /internal/calls": "member",
  "GET /internal/tunnel": "member",
  // Anyone holding the operation's secret, as LXD (the secret was handed to the one who asked).
  "GET /1.0/operations/:id/websocket": "public",
};

/**
 * The project a request is about: the project itself under /1.0/projects/NAME, else ?project=,
 * else "default" (all-projects asks for default's too).
 */
export function requestProject(url: URL): string {
  const m = /^\/1\.0\/projects\/([^/]+)/.exec(url.pathname);
  if (m) {
    try {
      return decodeURIComponent(m[1]!);
    } catch {
      return m[1]!;
    }
  }
  // Most requests have no query: URLSearchParams was 5% of a busy leader's time.
  return url.search === "" ? "default" : url.searchParams.get("project") || "default";
}

/** Whether a caller may use a route of this access level, for a request about project. */
export function allowed(id: Identity, access: Access | undefined, project: string): boolean {
  if (id.kind === "unix") return true;
  switch (access) {
    case "public":
      return true;
    case "joiner":
      return id.kind === "member" || id.joiner !== null;
    case "joining":
      return id.joiner !== null || allowed(id, "project", project);
    case "self":
      return id.kind === "member" || id.kind === "client" || id.kind === "restricted";
    case "project":
      return id.kind === "member" || id.kind === "client" ||
        (id.kind === "restricted" && id.projects.includes(project));
    case "admin":
      return id.kind === "member" || id.kind === "client";
    case "metrics":
      return id.kind === "member" || id.kind === "client" || id.kind === "restricted" ||
        id.kind === "metrics";
    case "member":
      return id.kind === "member";
    default:
      // Undeclared, or unix only.
      return false;
  }
}

/** The declared access of the route a request matched (undefined: none matched, or undeclared). */
export function routeAccess(method: string, path: string): Access | undefined {
  return ROUTE_ACCESS[`${method} ${path}`] ?? (method === "HEAD" ? ROUTE_ACCESS[`GET ${path}`] : undefined);
}

/**
 * The route whose handler answers the request (its pattern, not a middleware's "*"), or null:
 * found once per request for the middlewares that ask (matchedRoutes() maps every match anew).
 */
export function handlerRoute(c: Ctx): RouterRoute | null {
  let r = c.get("handlerRoute");
  if (r === undefined) {
    r = matchedRoutes(c).find((r) => r.method !== "ALL") ?? null;
    c.set("handlerRoute", r);
  }
  return r;
}

/** Each route's declared access, by the router's own route objects (no key to build per request). */
const accessOf = new WeakMap<RouterRoute, Access | undefined>();

/**
 * Enforces the table: the route the request matched (its handler's pattern, not its path) must
 * let this caller in; otherwise 403 before anything runs. A request that matches no route goes
 * on to the 404 handler.
 */
export function enforceAccess(): MiddlewareHandler<ApiEnv> {
  return async function checkAccess(c, next) {
    const handler = handlerRoute(c);
    if (handler) {
      let access: Access | undefined;
      if (handler.method === "GET" && c.req.method === "HEAD") access = routeAccess("HEAD", handler.path);
      else if (accessOf.has(handler)) access = accessOf.get(handler);
      else accessOf.set(handler, access = routeAccess(handler.method, handler.path));
      const id = c.get("identity");
      // Only a restricted client's access depends on the project (allowed()): the URL is parsed
      // for it alone.
      const project = id.kind === "restricted" ? requestProject(new URL(c.req.url)) : "default";
      if (!allowed(id, access, project)) throw forbidden();
    }
    await next();
  };
}
