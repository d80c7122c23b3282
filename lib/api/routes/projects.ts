import { Hono } from "hono";
import {
  createProject,
  deleteProject,
  getProject,
  listProjects,
  newProjectConfig,
  projectConfigProblem,
  projectNameProblem,
  type ProjectRecord,
  projectState,
  renameProject,
  updateProject,
} from "../../db/mod.ts";
import { badRequest, etag, notFound } from "../../util/mod.ts";
import { readJson } from "../body.ts";
import type { ApiEnv, Ctx, Identity, ServerContext } from "../context.ts";
import { async, emptySync, sync } from "../response.ts";
import { preconditionCheck, recursionOf } from "./instances_common.ts";

/** LXD's Project object. */
function projectJSON(p: ProjectRecord): Record<string, unknown> {
  return { config: p.config, description: p.description, name: p.name, used_by: p.used_by };
}

function writable(p: ProjectRecord): unknown {
  return [p.description, p.config];
}

/** A restricted client sees its projects only; everyone else every project. */
function visible(id: Identity, name: string): boolean {
  return id.kind !== "restricted" || id.projects.includes(name);
}

function stringConfig(config: unknown): Record<string, string> {
  if (config === undefined || config === null) return {};
  if (typeof config !== "object" || Array.isArray(config)) throw badRequest("Project config must be a map");
  const bad = projectConfigProblem(config as Record<string, unknown>);
  if (bad) throw badRequest(bad);
  return config as Record<string, string>;
}

interface ProjectBody {
  name?: unknown;
  description?: unknown;
  config?: unknown;
}

function description(v: unknown, fallback = ""): string {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "string") throw badRequest("Project description must be a string");
  return v;
}

/** /1.0/projects: every member serves them from the global database. */
export function projectRoutes(ctx: ServerContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const lifecycle = (action: string, name: string, context: Record<string, unknown> = {}) =>
    ctx.events.lifecycle(`project-${action}`, `/1.0/projects/${encodeURIComponent(name)}`, context, name);

  app.get("/1.0/projects", async (c) => {
    const all = (await ctx.db.read((tx) => listProjects(tx))).filter((p) => visible(c.var.identity, p.name));
    if (recursionOf(c) === 0) return sync(c, all.map((p) => `/1.0/projects/${encodeURIComponent(p.name)}`));
    return sync(c, all.map(projectJSON));
  });

  app.post("/1.0/projects", async (c) => {
    const b = await readJson<ProjectBody>(c);
    const bad = projectNameProblem(b.name);
    if (bad) throw badRequest(bad);
    const name = b.name as string;
    const config = newProjectConfig(stringConfig(b.config));
    await ctx.db.run(createProject, { name, description: description(b.description), config });
    lifecycle("created", name);
    c.header("Location", `/1.0/projects/${encodeURIComponent(name)}`);
    return sync(c, {});
  });

  const load = async (c: Ctx): Promise<ProjectRecord> => {
    const name = c.req.param("name")!;
    // A restricted client is refused before this (access table); a name it cannot see is
    // answered as missing, never as forbidden, so names do not leak.
    if (!visible(c.var.identity, name)) throw notFound("Project not found");
    return await ctx.db.read((tx) => getProject(tx, name));
  };

  app.get("/1.0/projects/:name", async (c) => {
    const p = await load(c);
    return sync(c, projectJSON(p), { etag: etag(writable(p)) });
  });

  app.get("/1.0/projects/:name/state", async (c) => {
    const p = await load(c);
    return sync(c, { resources: await ctx.db.read((tx) => projectState(tx, p.name)) });
  });

  const put = (patch: boolean) => async (c: Ctx) => {
    const cur = await load(c);
    preconditionCheck(c, writable(cur));
    const b = await readJson<ProjectBody>(c);
    const config = patch ? { ...cur.config, ...stringConfig(b.config) } : stringConfig(b.config);
    await ctx.db.run(updateProject, {
      name: cur.name,
      description: description(b.description, patch ? cur.description : ""),
      config,
    });
    lifecycle("updated", cur.name);
    return emptySync(c);
  };
  app.put("/1.0/projects/:name", put(false));
  app.patch("/1.0/projects/:name", put(true));

  // Rename is an operation in LXD (the client waits for it).
  app.post("/1.0/projects/:name", async (c) => {
    const cur = await load(c);
    const b = await readJson<ProjectBody>(c);
    const bad = projectNameProblem(b.name);
    if (bad) throw badRequest(bad);
    const newName = b.name as string;
    await ctx.db.run(renameProject, { name: cur.name, newName });
    lifecycle("renamed", newName, { old_name: cur.name });
    const op = ctx.operations.create({
      class: "task",
      description: "Renaming project",
      resources: { projects: [`/1.0/projects/${encodeURIComponent(newName)}`] },
      project: newName,
      run: async () => {},
    });
    return async(c, op.toJSON());
  });

  app.delete("/1.0/projects/:name", async (c) => {
    const name = c.req.param("name")!;
    if (!visible(c.var.identity, name)) throw notFound("Project not found");
    await ctx.db.run(deleteProject, { name });
    lifecycle("deleted", name);
    return emptySync(c);
  });
  return app;
}
