import { Hono } from "hono";
import {
  checkDevices,
  createProfile,
  deleteProfile,
  type Devices,
  getProfile,
  listProfiles,
  type ProfileRecord,
  projectUrl,
  updateProfile,
} from "../../db/mod.ts";
import { configProblem, hostnameProblem } from "../../instances/mod.ts";
import { badRequest, etag } from "../../util/mod.ts";
import type { Profile } from "../../wire/mod.ts";
import { readJson } from "../body.ts";
import type { ApiEnv, Ctx, ServerContext } from "../context.ts";
import { emptySync, preconditionCheck, sync } from "./instances_common.ts";

/** LXD's Profile object. */
function profileJSON(p: ProfileRecord): Profile {
  return {
    config: p.config,
    description: p.description,
    devices: p.devices,
    name: p.name,
    used_by: p.used_by,
  };
}

interface ProfileBody {
  name?: string;
  description?: string;
  config?: Record<string, string>;
  devices?: Devices;
}

function checkBody(b: ProfileBody): { config: Record<string, string>; devices: Devices } {
  const config = Object.fromEntries(Object.entries(b.config ?? {}).map(([k, v]) => [k, String(v)]));
  const cp = configProblem(config, true);
  if (cp) throw badRequest(`Invalid profile config: ${cp}`);
  const dp = checkDevices(b.devices);
  if (dp) throw badRequest(dp);
  return { config, devices: b.devices ?? {} };
}

/** /1.0/profiles. */
export function profileRoutes(ctx: ServerContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  // The request's project: its own profiles, or default's without features.profiles.
  const pj = (c: Ctx) => c.req.query("project") || "default";
  const lc = (c: Ctx, action: string, name: string) =>
    ctx.events.lifecycle(action, projectUrl(`/1.0/profiles/${name}`, pj(c)), {}, pj(c));
  app.get("/1.0/profiles", async (c) => {
    const all = await ctx.db.read((tx) => listProfiles(tx, pj(c)));
    if ((c.req.query("recursion") ?? "0") === "0") return sync(c, all.map((p) => `/1.0/profiles/${p.name}`));

    return sync(c, all.map(profileJSON));
  });
  app.post("/1.0/profiles", async (c) => {
    const b = await readJson<ProfileBody>(c);
    if (!b.name) throw badRequest("No name provided");
    if (b.name.includes("/")) throw badRequest("Profile names may not contain slashes");
    const bad = hostnameProblem(b.name.replace(/[._]/g, "-"));
    if (bad && b.name !== "default") throw badRequest(`Invalid profile name: ${bad}`);
    const { config, devices } = checkBody(b);
    await ctx.db.run(createProfile, {
      name: b.name,
      description: b.description ?? "",
      config,
      devices,
      project: pj(c),
    });
    lc(c, "profile-created", b.name);
    c.header("Location", `/1.0/profiles/${b.name}`);
    return sync(c, {});
  });
  app.get("/1.0/profiles/:name", async (c) => {
    const p = await ctx.db.read((tx) => getProfile(tx, c.req.param("name"), pj(c)));
    return sync(c, profileJSON(p), { etag: etag([p.config, p.description, p.devices]) });
  });
  const put = (patch: boolean) => async (c: Ctx) => {
    const name = c.req.param("name")!;
    const cur = await ctx.db.read((tx) => getProfile(tx, name, pj(c)));
    preconditionCheck(c, [cur.config, cur.description, cur.devices]);
    const b = await readJson<ProfileBody>(c);
    const merged: ProfileBody = patch
      ? {
        description: b.description ?? cur.description,
        config: { ...cur.config, ...(b.config ?? {}) },
        devices: { ...cur.devices, ...(b.devices ?? {}) },
      }
      : b;
    const { config, devices } = checkBody(merged);
    await ctx.db.run(updateProfile, {
      name,
      description: merged.description ?? "",
      config,
      devices,
      project: pj(c),
    });
    lc(c, "profile-updated", name);
    return emptySync(c);
  };
  app.put("/1.0/profiles/:name", put(false));
  app.patch("/1.0/profiles/:name", put(true));
  app.delete("/1.0/profiles/:name", async (c) => {
    await ctx.db.run(deleteProfile, { name: c.req.param("name"), project: pj(c) });
    lc(c, "profile-deleted", c.req.param("name"));
    return emptySync(c);
  });
  return app;
}
