import type { Hono } from "hono";
import { projectUrl } from "../../db/mod.ts";
import {
  expiryOf,
  type InstanceManager,
  InstanceSnapshots,
  snapshotNameProblem,
} from "../../instances/mod.ts";
import { badRequest } from "../../util/mod.ts";
import { readJson } from "../body.ts";
import type { ApiEnv, Ctx, ServerContext } from "../context.ts";
import { async } from "../response.ts";
import { projectOf, recursionOf, sync } from "./instances_common.ts";

function resources(name: string, project: string, snap?: string): Record<string, string[]> {
  return {
    instances: [projectUrl(`/1.0/instances/${name}`, project)],
    containers: [projectUrl(`/1.0/containers/${name}`, project)],
    ...(snap
      ? { instances_snapshots: [projectUrl(`/1.0/instances/${name}/snapshots/${snap}`, project)] }
      : {}),
  };
}

/**
 * /1.0/instances/NAME/snapshots (LXD's instance_snapshot.go): list, take, show, update, rename,
 * delete; a restore is PUT /1.0/instances/NAME {"restore": SNAP} (restoreSnapshot below). The
 * instance routes' owner forwarding brings every one of them to the instance's member.
 */
export function instanceSnapshotRoutes(app: Hono<ApiEnv>, m: InstanceManager, ctx: ServerContext): void {
  const snaps = (c: Ctx) => new InstanceSnapshots(m.in(projectOf(c)));
  const url = (c: Ctx, name: string, snap: string) =>
    projectUrl(`/1.0/instances/${name}/snapshots/${snap}`, projectOf(c));

  app.get("/1.0/instances/:name/snapshots", async (c) => {
    const name = c.req.param("name");
    const list = await snaps(c).list(name);
    if (recursionOf(c) === 0) return sync(c, list.map((s) => url(c, name, s.name)));
    return sync(c, list);
  });

  app.post("/1.0/instances/:name/snapshots", async (c) => {
    const name = c.req.param("name");
    const b = await readJson<{ name?: unknown; stateful?: unknown; expires_at?: unknown }>(c);
    if (b.name !== undefined && typeof b.name !== "string") {
      throw badRequest("Invalid name: expected a string");
    }
    const s = snaps(c);
    await m.in(projectOf(c)).get(name);
    const snap = b.name || await s.nextName(name);
    const why = snapshotNameProblem(snap);
    if (why) throw badRequest(why);
    const expiresAt = expiryOf(b.expires_at);
    const op = ctx.operations.create({
      class: "task",
      project: projectOf(c),
      description: "Snapshotting instance",
      resources: resources(name, projectOf(c)),
      run: async () => {
        await s.create(name, snap, b.stateful === true, expiresAt);
        ctx.events.lifecycle("instance-snapshot-created", url(c, name, snap), {}, projectOf(c));
      },
    });
    return async(c, op.toJSON());
  });

  app.get("/1.0/instances/:name/snapshots/:snap", async (c) => {
    return sync(c, await snaps(c).get(c.req.param("name"), c.req.param("snap")));
  });

  // LXD: only expires_at may change; PUT and PATCH alike.
  for (const method of ["put", "patch"] as const) {
    app[method]("/1.0/instances/:name/snapshots/:snap", async (c) => {
      const name = c.req.param("name");
      const snap = c.req.param("snap");
      const s = snaps(c);
      const cur = await s.get(name, snap);
      const b = await readJson<{ expires_at?: unknown }>(c);
      const expiresAt = b.expires_at === undefined && method === "patch"
        ? expiryOf(cur.expires_at)
        : expiryOf(b.expires_at);
      const op = ctx.operations.create({
        class: "task",
        project: projectOf(c),
        description: "Updating snapshot",
        resources: resources(name, projectOf(c), snap),
        run: async () => {
          await s.update(name, snap, { description: "", expiresAt });
          ctx.events.lifecycle("instance-snapshot-updated", url(c, name, snap), {}, projectOf(c));
        },
      });
      return async(c, op.toJSON());
    });
  }

  app.post("/1.0/instances/:name/snapshots/:snap", async (c) => {
    const name = c.req.param("name");
    const snap = c.req.param("snap");
    const b = await readJson<{ name?: unknown; migration?: unknown }>(c);
    if (b.migration === true) throw badRequest("Copying a snapshot to another server is not supported");
    if (typeof b.name !== "string" || b.name === "") {
      throw badRequest("A new name for the instance snapshot must be provided");
    }
    const why = snapshotNameProblem(b.name);
    if (why) throw badRequest(why);
    const s = snaps(c);
    await s.get(name, snap);
    const to = b.name;
    const op = ctx.operations.create({
      class: "task",
      project: projectOf(c),
      description: "Renaming snapshot",
      resources: resources(name, projectOf(c), snap),
      run: async () => {
        await s.rename(name, snap, to);
        ctx.events.lifecycle("instance-snapshot-renamed", url(c, name, to), { old_name: snap }, projectOf(c));
      },
    });
    return async(c, op.toJSON());
  });

  app.delete("/1.0/instances/:name/snapshots/:snap", async (c) => {
    const name = c.req.param("name");
    const snap = c.req.param("snap");
    const s = snaps(c);
    await s.get(name, snap);
    const op = ctx.operations.create({
      class: "task",
      project: projectOf(c),
      description: "Deleting snapshot",
      resources: resources(name, projectOf(c), snap),
      run: async () => {
        await s.delete(name, snap);
        ctx.events.lifecycle("instance-snapshot-deleted", url(c, name, snap), {}, projectOf(c));
      },
    });
    return async(c, op.toJSON());
  });
}

/** PUT /1.0/instances/NAME with "restore": the instance as the snapshot has it (an operation). */
export async function restoreSnapshot(
  c: Ctx,
  m: InstanceManager,
  ctx: ServerContext,
  name: string,
  snap: string,
): Promise<Response> {
  // lxc sends "INSTANCE/SNAP"; the bare snapshot name works too (LXD's instanceSnapRestore).
  if (snap.startsWith(`${name}/`)) snap = snap.slice(name.length + 1);
  else if (snap.includes("/")) throw badRequest(`Snapshot "${snap}" is not a snapshot of "${name}"`);
  const s = new InstanceSnapshots(m.in(projectOf(c)));
  await s.get(name, snap);
  const op = ctx.operations.create({
    class: "task",
    project: projectOf(c),
    description: "Restoring snapshot",
    resources: resources(name, projectOf(c)),
    run: async () => {
      await s.restore(name, snap);
      ctx.events.lifecycle(
        "instance-restored",
        projectUrl(`/1.0/instances/${name}`, projectOf(c)),
        { snapshot: snap },
        projectOf(c),
      );
    },
  });
  return async(c, op.toJSON());
}
