import { Hono } from "hono";
import {
  type ClusterGroupRecord,
  createClusterGroup,
  deleteClusterGroup,
  getClusterGroup,
  listClusterGroups,
  renameClusterGroup,
  updateClusterGroup,
} from "../../db/mod.ts";
import { badRequest, checkName, etag, preconditionFailed } from "../../util/mod.ts";
import { readJson } from "../body.ts";
import type { ApiEnv, Ctx, ServerContext } from "../context.ts";
import { emptySync, sync } from "../response.ts";

/** What a group's ETag covers (LXD: its ClusterGroupPut). */
function writable(g: ClusterGroupRecord): unknown {
  return [g.description, g.members];
}

function members(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    throw badRequest("Invalid members: expected a list of member names");
  }
  return v as string[];
}

function description(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw badRequest("Invalid description: expected a string");
  return v;
}

/**
 * /1.0/cluster/groups (LXD's clustering_groups): named sets of members that `--target @GROUP`
 * places instances on. "default" holds every member and can be neither renamed nor deleted; a
 * member keeps at least one group.
 */
export function clusterGroupRoutes(ctx: ServerContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const clustered = () => {
    if (!ctx.clustered()) throw badRequest("This server is not clustered");
  };
  const path = (name: string) => `/1.0/cluster/groups/${encodeURIComponent(name)}`;

  app.get("/1.0/cluster/groups", async (c) => {
    clustered();
    const groups = await ctx.db.read(listClusterGroups);
    if ((c.req.query("recursion") ?? "0") === "0") return sync(c, groups.map((g) => path(g.name)));
    return sync(c, groups);
  });

  app.post("/1.0/cluster/groups", async (c) => {
    clustered();
    const b = await readJson<{ name?: unknown; description?: unknown; members?: unknown }>(c);
    checkName("cluster group", b.name);
    await ctx.db.run(createClusterGroup, {
      name: b.name,
      description: description(b.description),
      members: members(b.members),
    });
    ctx.events.lifecycle("cluster-group-created", path(b.name));
    c.header("Location", path(b.name));
    return sync(c, {});
  });

  app.get("/1.0/cluster/groups/:name", async (c) => {
    clustered();
    const g = await ctx.db.read((tx) => getClusterGroup(tx, c.req.param("name")));
    return sync(c, g, { etag: etag(writable(g)) });
  });

  const update = (patch: boolean) => async (c: Ctx) => {
    clustered();
    const name = c.req.param("name")!;
    const cur = await ctx.db.read((tx) => getClusterGroup(tx, name));
    const ifMatch = c.req.header("If-Match");
    if (ifMatch && ifMatch.replace(/"/g, "") !== etag(writable(cur))) throw preconditionFailed();
    const b = await readJson<{ description?: unknown; members?: unknown }>(c);
    await ctx.db.run(updateClusterGroup, {
      name,
      description: patch && b.description === undefined ? cur.description : description(b.description),
      members: patch && b.members === undefined ? cur.members : members(b.members),
    });
    ctx.events.lifecycle("cluster-group-updated", path(name));
    return emptySync(c);
  };
  app.put("/1.0/cluster/groups/:name", update(false));
  app.patch("/1.0/cluster/groups/:name", update(true));

  app.post("/1.0/cluster/groups/:name", async (c) => {
    clustered();
    const name = c.req.param("name");
    const b = await readJson<{ name?: unknown }>(c);
    checkName("cluster group", b.name);
    await ctx.db.run(renameClusterGroup, { name, newName: b.name });
    ctx.events.lifecycle("cluster-group-renamed", path(b.name), { old_name: name });
    c.header("Location", path(b.name));
    return sync(c, {});
  });

  app.delete("/1.0/cluster/groups/:name", async (c) => {
    clustered();
    const name = c.req.param("name");
    await ctx.db.run(deleteClusterGroup, { name });
    ctx.events.lifecycle("cluster-group-deleted", path(name));
    return emptySync(c);
  });
  return app;
}
