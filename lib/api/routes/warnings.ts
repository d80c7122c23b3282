import { Hono } from "hono";
import {
  deleteWarning,
  getWarning,
  listWarnings,
  setWarningStatus,
  WARNING_STATUS,
  WARNING_TYPES,
  type WarningRow,
} from "../../db/mod.ts";
import { badRequest, forbidden } from "../../util/mod.ts";
import { readJson } from "../body.ts";
import type { ApiEnv, ServerContext } from "../context.ts";
import { emptySync, sync } from "../response.ts";

const TYPE_NAMES = new Map<number, { name: string; severity: string }>(
  Object.values(WARNING_TYPES).map((t) => [t.code, t]),
);
const STATUS_NAMES = new Map<number, string>(Object.entries(WARNING_STATUS).map(([k, v]) => [v, k]));

/** LXD's api.Warning. */
function warningJson(w: WarningRow) {
  const t = TYPE_NAMES.get(w.type_code);
  return {
    status: STATUS_NAMES.get(w.status) ?? "new",
    uuid: w.uuid,
    location: w.location,
    project: w.project,
    type: t?.name ?? "Undefined warning",
    count: w.count,
    first_seen_at: w.first_seen_date,
    last_seen_at: w.last_seen_date,
    last_message: w.last_message,
    severity: t?.severity ?? "low",
    // LXD 5.0.2 links only instances, images, profiles, projects and certificates; a member's
    // warning (an offline member) has no link.
    entity_url: "",
  };
}

/**
 * /1.0/warnings (LXD's `warnings` extension): what members noticed, kept in the global
 * database so that every member lists all of them; ?target=MEMBER lists that member's only, and
 * ?project=NAME a project's.
 */
export function warningRoutes(ctx: ServerContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const url = (uuid: string) => `/1.0/warnings/${uuid}`;

  app.get("/1.0/warnings", async (c) => {
    const project = c.req.query("project");
    const target = c.req.query("target");
    const rows = await ctx.db.read((tx) =>
      listWarnings(tx, {
        ...(project ? { project } : {}),
        ...(target ? { location: target } : {}),
      })
    );
    if ((c.req.query("recursion") ?? "0") === "0") return sync(c, rows.map((w) => url(w.uuid)));
    return sync(c, rows.map(warningJson));
  });

  app.get("/1.0/warnings/:uuid", async (c) => {
    return sync(c, warningJson(await ctx.db.read((tx) => getWarning(tx, c.req.param("uuid")))));
  });

  const update = async (uuid: string, body: { status?: unknown }) => {
    const name = typeof body.status === "string" ? body.status : "";
    const status = WARNING_STATUS[name as keyof typeof WARNING_STATUS];
    if (status === undefined) throw badRequest(`Invalid warning type "${name}"`);
    if (status === WARNING_STATUS.resolved) {
      throw forbidden('Status may only be set to "acknowledge" or "new"');
    }
    await ctx.db.run(setWarningStatus, { uuid, status });
    ctx.events.lifecycle(
      status === WARNING_STATUS.acknowledged ? "warning-acknowledged" : "warning-reset",
      url(uuid),
    );
  };
  for (const method of ["put", "patch"] as const) {
    app[method]("/1.0/warnings/:uuid", async (c) => {
      await update(c.req.param("uuid"), await readJson<{ status?: unknown }>(c));
      return emptySync(c);
    });
  }

  app.delete("/1.0/warnings/:uuid", async (c) => {
    const uuid = c.req.param("uuid");
    await ctx.db.run(deleteWarning, { uuid });
    ctx.events.lifecycle("warning-deleted", url(uuid));
    return emptySync(c);
  });
  return app;
}
