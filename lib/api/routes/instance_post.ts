/**
 * POST /1.0/instances/NAME (LXD's instancePost): a rename on the instance's member, a move to
 * another member (`migration: true` with `?target=`, what `lxc move c1 --target m2` sends), or a
 * pull-mode migration source (`migration: true` alone, what `lxc copy c1 c2 --target m3` opens
 * before it asks the target member to create the copy). Also the member-only routes the volumes
 * travel by (/internal/migrations). The work is lib/cluster/instance_moves.ts's.
 */
import type { Hono } from "hono";
import { targetProblem } from "../../db/mod.ts";
import { type InstanceManager, instanceNameProblem, type InstancePost } from "../../instances/mod.ts";
import type { ArrivalCall, InstanceMoves } from "../../cluster/mod.ts";
import { LIVE_MIGRATION_REFUSAL } from "../../cluster/mod.ts";
import { badRequest, forbidden, StatusError } from "../../util/mod.ts";
import { randomSecret } from "../../wire/tokens.ts";
import { readJson } from "../body.ts";
import type { ApiEnv, Ctx, ServerContext } from "../context.ts";
import { async } from "../response.ts";
import { projectOf, sync } from "./instances_common.ts";
import { projectUrl } from "../../db/mod.ts";

function resources(name: string, project: string): Record<string, string[]> {
  return {
    instances: [projectUrl(`/1.0/instances/${name}`, project)],
    containers: [projectUrl(`/1.0/containers/${name}`, project)],
  };
}

function movesOf(ctx: ServerContext): InstanceMoves {
  if (!ctx.moves) throw new StatusError(503, "Moving instances is not available on this member yet");
  return ctx.moves;
}

/** POST /1.0/instances/:name: on the instance's member, except a move to a named member, which runs where the client asked. */
export function instancePostRoute(app: Hono<ApiEnv>, m: InstanceManager, ctx: ServerContext): void {
  app.post("/1.0/instances/:name", async (c) => {
    const name = c.req.param("name");
    const project = projectOf(c);
    // `target` is push mode's remote server (an object); null from lxc otherwise.
    const b = await readJson<InstancePost>(c, { target: "object", project: "string" });
    const cur = await m.in(project).get(name);
    const moves = movesOf(ctx);
    if (b.migration === true) {
      if (b.pool) throw badRequest("Moving an instance to another storage pool is not supported");
      if (b.project && b.project !== project) {
        throw badRequest("Moving an instance to another project is not supported");
      }
      if (b.target) {
        throw badRequest("Push migration to another server is not supported: copy within the cluster");
      }
      // As LXD: a request without `live` is a stateful one.
      const live = b.live ?? true;
      const target = c.req.query("target") ?? "";
      if (target !== "") return await moveTo(c, ctx, moves, { name, project, target, newName: b.name, live });
      // A pull-mode source: the member that creates the copy takes the volume with the fs secret.
      if (cur.status !== "Stopped" && live) throw badRequest(LIVE_MIGRATION_REFUSAL);
      const offered = Promise.withResolvers<Promise<void>>();
      const op = ctx.operations.create({
        class: "websocket",
        project,
        description: "Migrating instance",
        resources: resources(name, project),
        run: async () => {
          await await offered.promise;
        },
        // The client cancels it when the copy's creation failed (lxc does): the offer goes.
        cancellable: true,
        onCancel: (op) => moves.sources.withdraw(op.id, new Error("Migration cancelled")),
        // LXD's migration protocol is not spoken here: cluster members take the volume over
        // their own member-only stream, which the secret opens.
        connect: (_op, _secret, socket) =>
          socket.close(1011, "Migration websockets are not served: copies go member to member"),
      });
      try {
        const offer = await moves.offer(project, name, {
          id: op.id,
          instanceOnly: b.instance_only === true || b.container_only === true,
        });
        offered.resolve(offer.served);
        op.updateMetadata({ control: randomSecret(), fs: offer.secret });
      } catch (e) {
        offered.reject(e);
        throw e;
      }
      return async(c, op.toJSON());
    }
    // A rename on this member.
    const newName = b.name ?? "";
    const bad = newName === "" ? "Instance name is required" : instanceNameProblem(newName);
    if (bad) throw badRequest(bad);
    if (cur.status !== "Stopped") throw badRequest("Renaming of running instance not allowed");
    if (newName === name) throw new StatusError(409, `Name "${newName}" already in use`);
    const op = ctx.operations.create({
      class: "task",
      project,
      description: "Renaming instance",
      resources: resources(name, project),
      run: async () => {
        await moves.rename(project, name, newName);
      },
    });
    return async(c, op.toJSON());
  });
}

/** A move to another member (or the scheduler's pick for @GROUP), checked before its operation. */
async function moveTo(
  c: Ctx,
  ctx: ServerContext,
  moves: InstanceMoves,
  r: { name: string; project: string; target: string; newName?: string; live: boolean },
): Promise<Response> {
  const newName = r.newName || r.name;
  const bad = instanceNameProblem(newName);
  if (bad) throw badRequest(bad);
  if (!ctx.clustered()) throw badRequest("This server is not clustered: --target is for cluster members");
  const req = { project: r.project, name: r.name, target: r.target, newName, stateless: !r.live };
  if (!r.target.startsWith("@")) {
    // A restricted project decides where its instances may go, before anything moves.
    const why = await ctx.db.read((tx) =>
      targetProblem(tx, req.project, req.target, c.var.identity.kind === "restricted")
    );
    if (why) throw forbidden(why);
  }
  await moves.checkMove(req);
  const op = ctx.operations.create({
    class: "task",
    project: req.project,
    description: "Migrating instance",
    resources: resources(req.name, req.project),
    run: async (op) => {
      await moves.move(req, (text) => op.updateMetadata({ migration_progress: text }));
    },
  });
  return async(c, op.toJSON());
}

/** The member-only routes a volume travels by, and a copy's remote source. */
export function migrationRoutes(app: Hono<ApiEnv>, ctx: ServerContext): void {
  // A member about to create a copy asks the source's member to offer its volume.
  app.post("/internal/migrations/offer", async (c) => {
    const b = await readJson<{ project?: string; name?: string; instanceOnly?: boolean }>(c);
    if (typeof b.name !== "string" || b.name === "") throw badRequest("Missing instance name");
    const offer = await movesOf(ctx).offer(b.project || "default", b.name, {
      instanceOnly: b.instanceOnly === true,
    });
    return sync(c, { id: offer.id, secret: offer.secret });
  });
  // The volume itself, once, to the member holding the secret.
  app.get("/internal/migrations/:id/volume", (c) => {
    return movesOf(ctx).sources.take(c.req.param("id"), c.req.query("secret") ?? "", c.req.query("snapshot"));
  });
  // A move's source asks the target member to take the instance; answered once it committed.
  app.post("/internal/migrations/arrive", async (c) => {
    const b = await readJson<ArrivalCall>(c);
    if (
      typeof b.name !== "string" || typeof b.newName !== "string" || typeof b.from !== "string" ||
      typeof b.moveId !== "string" ||
      typeof b.offer?.id !== "string" || typeof b.offer?.secret !== "string" ||
      !(b.snapshots === undefined ||
        (Array.isArray(b.snapshots) && b.snapshots.every((x) => typeof x === "string")))
    ) throw badRequest("Malformed arrival: expected project, name, newName, from, offer and snapshots");
    await movesOf(ctx).arrive({ ...b, project: b.project || "default" });
    return sync(c, {});
  });
}
