import { Hono } from "hono";
import { keyDef, readGlobalConfig, shownConfig, type ShownValue, updateServerConfig } from "../../db/mod.ts";
import { badRequest, etag } from "../../util/mod.ts";
import type { Server, ServerPut } from "../../wire/mod.ts";
import type { ApiEnv, Ctx, ServerContext } from "../context.ts";
import { API_EXTENSIONS } from "../extensions.ts";
import { systemFacts } from "../environment.ts";
import { hashPassword } from "../password.ts";
import { emptySync, sync } from "../response.ts";
import { readJson } from "../body.ts";

/** The config GET /1.0 shows: local and global keys, secrets hidden. */
async function visibleConfig(ctx: ServerContext): Promise<Record<string, ShownValue>> {
  return shownConfig(await ctx.db.read(readGlobalConfig), ctx.local.config());
}

async function serverInfo(ctx: ServerContext, trusted: boolean, restricted = false): Promise<Server> {
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
    // A restricted client sees no server configuration (LXD: only the admin does).
    config: restricted ? {} : await visibleConfig(ctx),
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
    const info = await serverInfo(ctx, trusted, c.var.identity.kind === "restricted");
    return sync(c, info, trusted ? { etag: etag(info.config) } : {});
  });
  return app;
}

/**
 * Applies a server config change. PUT replaces the config (absent keys are unset); PATCH
 * merges. One replicated transaction checks the ETag, works out the changes and writes the
 * global keys; member-local keys then go to this member's database after their side effects.
 */
async function updateConfig(ctx: ServerContext, c: Ctx, mode: "put" | "patch"): Promise<Response> {
  // api.ServerPut: config is map[string]any, so numbers and booleans are taken as their text.
  const body = await readJson<ServerPut>(c, { config: "scalars" });
  if (
    body.config !== undefined &&
    (typeof body.config !== "object" || body.config === null || Array.isArray(body.config))
  ) {
    throw badRequest("Invalid config: expected an object of strings");
  }
  const requested: Record<string, ShownValue> = {};
  for (const [k, v] of Object.entries(body.config ?? {})) {
    if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean" && v !== null) {
      throw badRequest(`Invalid value for config key "${k}": expected a string`);
    }
    const value = v === null ? "" : v === true ? true : String(v);
    // Secrets are stored hashed: hash before the transaction, which must not wait on scrypt.
    const def = keyDef(k);
    requested[k] = def?.hidden && def.scope === "global" && typeof value === "string" && value !== ""
      ? await hashPassword(value)
      : value;
  }
  const ifMatch = c.req.header("If-Match")?.replace(/"/g, "");
  // A PATCH without If-Match is judged on the keys it names only (updateServerConfig): this
  // member's other keys need not be copied, nor sent to the leader with it.
  const whole = mode === "put" || !!ifMatch;
  const { local } = await ctx.db.run(updateServerConfig, {
    mode,
    requested,
    local: whole ? ctx.local.config() : localKeys(ctx, Object.keys(requested)),
    ...(ifMatch ? { ifMatch } : {}),
    clustered: ctx.clustered(),
    member: ctx.location(),
  });
  if (Object.keys(local).length > 0) {
    await ctx.applyLocalConfig(local);
    ctx.local.update(local);
  }
  ctx.events.lifecycle("config-updated", "/1.0");
  return emptySync(c);
}

/** This member's set local keys among keys. */
function localKeys(ctx: ServerContext, keys: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) {
    const v = ctx.local.get(k);
    if (v !== "") out[k] = v;
  }
  return out;
}

/** PUT and PATCH /1.0 (trusted only). */
export function serverRoutes(ctx: ServerContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.put("/1.0", (c) => updateConfig(ctx, c, "put"));
  app.patch("/1.0", (c) => updateConfig(ctx, c, "patch"));
  return app;
}
