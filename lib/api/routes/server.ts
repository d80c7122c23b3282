import { Hono } from "hono";
import { keyDef, readGlobalConfig, updateGlobalConfig, validateChanges } from "../../db/mod.ts";
import { badRequest, preconditionFailed } from "../../util/mod.ts";
import type { Server, ServerPut } from "../../wire/mod.ts";
import type { ApiEnv, Ctx, ServerContext } from "../context.ts";
import { API_EXTENSIONS } from "../extensions.ts";
import { systemFacts } from "../environment.ts";
import { hashPassword } from "../password.ts";
import { emptySync, etagOf, sync } from "../response.ts";
import { readJson } from "../body.ts";

/** A server config value as GET /1.0 shows it: secrets are the boolean true, as in LXD. */
type ShownValue = string | true;

/** The config GET /1.0 shows: local and global keys, secrets hidden. */
export async function visibleConfig(ctx: ServerContext): Promise<Record<string, ShownValue>> {
  const global = await ctx.db.read(readGlobalConfig);
  const all: Record<string, ShownValue> = { ...global, ...ctx.local.config() };
  for (const k of Object.keys(all)) if (keyDef(k)?.hidden) all[k] = true;
  return Object.fromEntries(Object.keys(all).sort().map((k) => [k, all[k]!]));
}

async function serverInfo(ctx: ServerContext, trusted: boolean): Promise<Server> {
  const base = {
    api_extensions: [...API_EXTENSIONS],
    api_status: "stable",
    api_version: "1.0",
    auth: trusted ? "trusted" as const : "untrusted" as const,
    public: false,
    auth_methods: ["tls"],
  };
  if (!trusted) return base;
  const f = systemFacts();
  const cert = ctx.certificate();
  return {
    config: await visibleConfig(ctx),
    ...base,
    environment: {
      addresses: ctx.addresses(),
      architectures: f.architectures,
      certificate: cert.cert,
      certificate_fingerprint: cert.fingerprint,
      driver: "lxc",
      driver_version: f.driver_version,
      firewall: "nftables",
      kernel: f.kernel,
      kernel_architecture: f.kernel_architecture,
      kernel_features: {},
      kernel_version: f.kernel_version,
      lxc_features: {},
      os_name: f.os_name,
      os_version: f.os_version,
      project: "default",
      server: "lxd",
      server_clustered: ctx.clustered(),
      server_event_mode: "full-mesh",
      server_name: ctx.serverName(),
      server_pid: Deno.pid,
      server_version: ctx.version,
      storage: "dir",
      storage_version: "1",
      storage_supported_drivers: [{ Name: "dir", Version: "1", Remote: false }],
    },
  };
}

/** The routes open to everyone: GET / and GET /1.0. */
export function publicServerRoutes(ctx: ServerContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get("/", (c) => sync(c, ["/1.0"]));
  app.get("/1.0", async (c) => {
    const trusted = c.var.identity.trusted;
    const info = await serverInfo(ctx, trusted);
    return sync(c, info, trusted ? { etag: await etagOf(info.config) } : {});
  });
  return app;
}

/**
 * Applies a server config change. PUT replaces the config (absent keys are unset); PATCH
 * merges. Member-local keys go to the local database after their side effects succeeded;
 * the rest is one replicated transaction.
 */
async function updateConfig(ctx: ServerContext, c: Ctx, mode: "put" | "patch"): Promise<Response> {
  const body = await readJson<ServerPut>(c);
  if (
    body.config !== undefined &&
    (typeof body.config !== "object" || body.config === null || Array.isArray(body.config))
  ) {
    throw badRequest("Invalid config: expected an object of strings");
  }
  const current = await visibleConfig(ctx);
  const ifMatch = c.req.header("If-Match");
  if (ifMatch && ifMatch !== "" && ifMatch.replace(/"/g, "") !== await etagOf(current)) {
    throw preconditionFailed();
  }
  const requested: Record<string, string | true> = {};
  for (const [k, v] of Object.entries(body.config ?? {})) {
    if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean" && v !== null) {
      throw badRequest(`Invalid value for config key "${k}": expected a string`);
    }
    requested[k] = v === null ? "" : v === true ? true : String(v);
  }
  // The full set of changes: for PUT, keys that are set now and absent from the body are unset.
  const changes: Record<string, string> = {};
  if (mode === "put") { for (const k of Object.keys(current)) if (!(k in requested)) changes[k] = ""; }
  for (const [k, v] of Object.entries(requested)) {
    // A secret comes back from GET as true: sending it back keeps it, as in LXD.
    if (v === true) {
      if (keyDef(k)?.hidden) continue;
      changes[k] = "true";
    } else if (current[k] !== v || (keyDef(k)?.hidden && v !== "")) changes[k] = v;
  }
  for (const k of Object.keys(changes)) if (current[k] === undefined && changes[k] === "") delete changes[k];
  const problem = validateChanges(changes);
  if (problem) throw badRequest(problem);
  if (Object.keys(changes).length === 0) return emptySync(c);

  const local: Record<string, string> = {};
  const global: Record<string, string> = {};
  for (const [k, v] of Object.entries(changes)) {
    if (keyDef(k)!.scope === "local") local[k] = v;
    else global[k] = keyDef(k)!.hidden && v !== "" ? await hashPassword(v) : v;
  }
  if (ctx.clustered() && "cluster.https_address" in local) {
    throw badRequest("Changing cluster.https_address is currently not supported");
  }
  if (Object.keys(local).length > 0) {
    await ctx.applyLocalConfig(local);
    ctx.local.update(local);
  }
  if (Object.keys(global).length > 0) {
    await ctx.db.run(updateGlobalConfig, global);
  }
  ctx.events.lifecycle("config-updated", "/1.0");
  return emptySync(c);
}

/** PUT and PATCH /1.0 (trusted only). */
export function serverRoutes(ctx: ServerContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.put("/1.0", (c) => updateConfig(ctx, c, "put"));
  app.patch("/1.0", (c) => updateConfig(ctx, c, "patch"));
  return app;
}
