import { Hono } from "hono";
import type { MiddlewareHandler } from "hono";
import { allowedGroups, findInstance, listProjects, projectUrl, targetProblem } from "../../db/mod.ts";
import {
  consoleOperation,
  execOperation,
  type ExecRequest,
  type InstanceJSON,
  type InstanceManager,
  InstanceSnapshots,
  type InstancesPost,
  type SnapshotJSON,
} from "../../instances/mod.ts";
import { badRequest, etag, forbidden } from "../../util/mod.ts";
import { readJson } from "../body.ts";
import type { ApiEnv, Ctx, ServerContext } from "../context.ts";
import { async } from "../response.ts";
import { forwardTo } from "../target.ts";
import type { Placement } from "../../cluster/mod.ts";
import { emptySync, preconditionCheck, projectOf, recursionOf, sync } from "./instances_common.ts";
import { matchesFilter, parseFilter } from "./instances_filter.ts";
import { instanceFileRoutes } from "./instance_files.ts";
import { instanceSnapshotRoutes, restoreSnapshot } from "./instance_snapshots.ts";
import { instancePostRoute, migrationRoutes } from "./instance_post.ts";

/** The writable part whose hash is an instance's ETag (LXD: architecture, config, devices, ephemeral, profiles). */
function writable(i: InstanceJSON): unknown {
  return [i.architecture, i.config, i.devices, i.ephemeral, i.profiles];
}

function resources(name: string, project: string): Record<string, string[]> {
  return {
    instances: [projectUrl(`/1.0/instances/${name}`, project)],
    containers: [projectUrl(`/1.0/containers/${name}`, project)],
  };
}

/**
 * The one place where a request about an instance meets its location: an instance on another
 * member is forwarded there (with its caller's identity); local ones go on.
 */
function forwardToOwner(ctx: ServerContext): MiddlewareHandler<ApiEnv> {
  return async function instanceOwner(c, next) {
    // Hono has decoded the parameter already: decoding it twice would misread a name with "%".
    const name = c.req.param("name") ?? "";
    // Standalone, every instance is here: no lookup on the way.
    if (name !== "" && ctx.clustered()) {
      // This member's copy first; an instance it does not know yet (just created through
      // another member) is looked up again through the leader before "not found".
      const rec = await ctx.db.read((tx) => findInstance(tx, name, projectOf(c)), { stale: true }) ??
        await ctx.db.read((tx) => findInstance(tx, name, projectOf(c)));
      if (rec && rec.location !== ctx.location() && !(await isMoveToMember(c))) {
        // Never run it here instead: this member has no such container, and a delete would
        // drop the owner's record while its container lives on.
        c.res = await forwardTo(ctx, c, rec.location);
        return;
      }
    }
    await next();
  };
}

/**
 * The projects a list covers: ?project=, or with all-projects=true every project (a restricted
 * client's own only).
 */
async function listedProjects(ctx: ServerContext, c: Ctx): Promise<string[]> {
  if (c.req.query("all-projects") !== "true") return [projectOf(c)];
  const id = c.var.identity;
  const names = await ctx.db.read((tx) => listProjects(tx).map((p) => p.name));
  return id.kind === "restricted" ? names.filter((n) => id.projects.includes(n)) : names;
}

/**
 * The instances other members hold, as those members show them: one request per member, all at
 * once. A member that is offline or does not answer has its instances listed from the database
 * with LXD's Error status, so that one member down never fails the list.
 */
async function othersInstances(
  ctx: ServerContext,
  remote: { json: InstanceJSON }[],
  recursion: number,
  query: string,
): Promise<InstanceJSON[]> {
  const byMember = new Map<string, InstanceJSON[]>();
  for (const x of remote) {
    const list = byMember.get(x.json.location) ?? [];
    list.push(x.json);
    byMember.set(x.json.location, list);
  }
  const lists = await Promise.all([...byMember].map(async ([member, records]) => {
    let answer: Map<string, InstanceJSON> | null = null;
    if (ctx.askMember) {
      try {
        const got = await ctx.askMember<InstanceJSON[]>(
          member,
          `/1.0/instances?recursion=${recursion}&${query}`,
        );
        answer = new Map(got.map((i) => [`${i.project}/${i.name}`, i]));
      } catch { /* offline or not answering: its instances show as errors */ }
    }
    return records.map((r) =>
      answer?.get(`${r.project}/${r.name}`) ??
        { ...r, status: "Error", status_code: 112, ...(recursion >= 2 ? { state: null } : {}) }
    );
  }));
  return lists.flat();
}

/**
 * Whether a request is a move to a named member (POST /1.0/instances/NAME?target= with
 * migration): its operation runs on the member the client talks to, which asks the owner, so a
 * client still hears the outcome when the owner is killed mid-move (lib/cluster/instance_moves.ts).
 */
async function isMoveToMember(c: Ctx): Promise<boolean> {
  if (c.req.method !== "POST" || !c.req.query("target") || c.req.path.split("/").length !== 4) return false;
  try {
    return (await c.req.raw.clone().json())?.migration === true;
  } catch {
    return false;
  }
}

/** The name a create request asks for, read from a copy of its body (the body itself is forwarded). */
/** An instance's snapshots as InstanceFull shows them: null when it has none, as LXD. */
async function snapshotsOrNull(s: InstanceSnapshots, name: string): Promise<SnapshotJSON[] | null> {
  const list = await s.list(name);
  return list.length > 0 ? list : null;
}

async function requestedName(c: Ctx): Promise<string> {
  try {
    const b = await c.req.raw.clone().json();
    return typeof b?.name === "string" ? b.name : "";
  } catch {
    return "";
  }
}

/** /1.0/instances and everything under it. */
export function instanceRoutes(m: InstanceManager): (ctx: ServerContext) => Hono<ApiEnv> {
  return (ctx) => {
    const app = new Hono<ApiEnv>();
    const owner = forwardToOwner(ctx);
    // The request's project (?project=, LXD's default "default"): the manager's view of it.
    const pm = (c: Ctx) => m.in(projectOf(c));
    app.use("/1.0/instances/:name", owner);
    app.use("/1.0/instances/:name/*", owner);

    app.get("/1.0/instances", async (c) => {
      const filter = parseFilter(c.req.query("filter") ?? "");
      const rec = recursionOf(c);
      // Another member asking (it gathers the whole cluster's list) gets this member's own.
      const mineOnly = c.var.identity.kind === "member";
      const projects = await listedProjects(ctx, c);
      const listed = (await Promise.all(projects.map((p) => m.in(p).list()))).flat().filter((x) =>
        !mineOnly || x.record.location === ctx.location()
      );
      if (rec === 0) {
        const names = listed.filter((x) => matchesFilter(filter, x.json));
        return sync(c, names.map((x) => projectUrl(`/1.0/instances/${x.json.name}`, x.json.project)));
      }
      const here = listed.filter((x) => x.record.location === ctx.location());
      const theirs = await othersInstances(
        ctx,
        listed.filter((x) => x.record.location !== ctx.location()),
        rec,
        c.req.query("all-projects") === "true"
          ? "all-projects=true"
          : `project=${encodeURIComponent(projectOf(c))}`,
      );
      const mine = rec === 1 ? here.map((x) => x.json) : await Promise.all(here.map(async (x) => ({
        ...x.json,
        backups: null,
        state: x.state ? await m.in(x.json.project).state(x.json.name, x.state) : null,
        snapshots: await snapshotsOrNull(new InstanceSnapshots(m.in(x.json.project)), x.json.name),
      })));
      const all = [...mine, ...theirs].filter((x) => matchesFilter(filter, x as InstanceJSON));
      all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return sync(c, all);
    });

    app.post("/1.0/instances", async (c) => {
      // Placement: ?target=MEMBER names the member that creates (and owns) the instance;
      // ?target=@GROUP, or none, lets the scheduler choose. The member chosen creates it.
      const target = c.req.query("target") ?? "";
      if (target) {
        // A restricted project decides where its instances may go, before anything moves.
        const why = await ctx.db.read((tx) =>
          targetProblem(tx, projectOf(c), target, c.var.identity.kind === "restricted")
        );
        if (why) throw forbidden(why);
      }
      const group = target.startsWith("@") ? target.slice(1) : null;
      let placement: Placement | null = null;
      if (ctx.clustered() && c.var.forwardedBy === undefined) {
        if (target === "" || group !== null) {
          placement = await ctx.placeInstance!(
            group !== null ? { group } : await ctx.db.read((tx) => {
              // A restricted project's instances go only to members of its allowed groups.
              const within = allowedGroups(tx, projectOf(c));
              return within === null ? null : { within };
            }),
            await requestedName(c),
            projectOf(c),
          );
        }
        const member = placement?.member ?? target;
        if (member !== ctx.location()) {
          const res = forwardTo(ctx, c, member);
          placement?.settleForwarded(res);
          return await res;
        }
      } else if (!ctx.clustered() && target !== "" && target !== ctx.location()) {
        throw badRequest("This server is not clustered: --target is for cluster members");
      }
      // Here from now on: the placement counts until the creation ends (or is refused).
      try {
        return await createHere(c, group, placement);
      } catch (e) {
        placement?.settle(Promise.resolve());
        throw e;
      }
    });

    /** Creates an instance on this member (the placement chose it, or the client named it). */
    const createHere = async (
      c: Ctx,
      group: string | null,
      placement: Placement | null,
    ): Promise<Response> => {
      const req = await readJson<InstancesPost>(c);
      if (req.source?.type === "copy" || req.source?.type === "migration") {
        return await copyHere(c, req, placement);
      }
      const prepared = await pm(c).prepareCreate(req);
      // As LXD: an instance placed through a group remembers it.
      if (group !== null && ctx.clustered()) req.config = { ...req.config, "volatile.cluster.group": group };
      const op = ctx.operations.create({
        class: "task",
        project: projectOf(c),
        description: "Creating instance",
        resources: resources(prepared.name, projectOf(c)),
        run: async (op) => {
          await pm(c).create(
            req,
            prepared,
            (text, key) => op.updateMetadata({ [key ?? "create_instance_from_image_unpack_progress"]: text }),
          );
          if (req.start) await pm(c).start(prepared.name);
        },
      });
      placement?.settle(op.done());
      return async(c, op.toJSON());
    };

    /** Creates a copy of an instance on this member (its source here or on another member). */
    const copyHere = async (c: Ctx, req: InstancesPost, placement: Placement | null): Promise<Response> => {
      if (!ctx.moves) throw badRequest("Copying instances is not available on this member yet");
      const name = await ctx.moves.checkCopy(projectOf(c), req);
      const op = ctx.operations.create({
        class: "task",
        project: projectOf(c),
        description: "Creating instance",
        resources: resources(name, projectOf(c)),
        run: async (op) => {
          await ctx.moves!.copyHere(
            projectOf(c),
            req,
            (text, key) => op.updateMetadata({ [key ?? "migration_progress"]: text }),
          );
          if (req.start) await pm(c).start(name);
        },
      });
      placement?.settle(op.done());
      return async(c, op.toJSON());
    };

    app.get("/1.0/instances/:name", async (c) => {
      const i = await pm(c).get(c.req.param("name"));
      // recursion=1 here is LXD's InstanceFull (instance_get_full): state, snapshots, backups.
      if (recursionOf(c) >= 1) {
        const st = await pm(c).lxcState(i.name);
        return sync(c, {
          ...i,
          backups: null,
          state: await pm(c).state(i.name, st),
          snapshots: await snapshotsOrNull(new InstanceSnapshots(pm(c)), i.name),
        }, {
          etag: etag(writable(i)),
        });
      }
      return sync(c, i, { etag: etag(writable(i)) });
    });

    app.put("/1.0/instances/:name", async (c) => {
      const name = c.req.param("name");
      const cur = await pm(c).get(name);
      preconditionCheck(c, writable(cur));
      const b = await readJson<Partial<InstanceJSON> & { restore?: unknown }>(c);
      if (typeof b.restore === "string" && b.restore !== "") {
        return await restoreSnapshot(c, m, ctx, name, b.restore);
      }
      const op = ctx.operations.create({
        class: "task",
        project: projectOf(c),
        description: "Updating instance",
        resources: resources(name, projectOf(c)),
        run: async () => {
          await pm(c).update(name, {
            description: b.description,
            config: b.config,
            devices: b.devices,
            profiles: b.profiles,
            ephemeral: b.ephemeral,
          });
        },
      });
      return async(c, op.toJSON());
    });

    app.patch("/1.0/instances/:name", async (c) => {
      const name = c.req.param("name");
      const cur = await pm(c).get(name);
      preconditionCheck(c, writable(cur));
      const b = await readJson<Partial<InstanceJSON>>(c);
      await pm(c).update(name, {
        description: b.description ?? cur.description,
        config: { ...cur.config, ...(b.config ?? {}) },
        devices: { ...cur.devices, ...(b.devices ?? {}) },
        profiles: b.profiles ?? cur.profiles,
        ephemeral: b.ephemeral ?? cur.ephemeral,
      });
      return emptySync(c);
    });

    app.delete("/1.0/instances/:name", async (c) => {
      const name = c.req.param("name");
      await pm(c).get(name);
      const st = await pm(c).lxcState(name);
      if (st.state !== "STOPPED") throw badRequest("Instance is running");
      const op = ctx.operations.create({
        class: "task",
        project: projectOf(c),
        description: "Deleting instance",
        resources: resources(name, projectOf(c)),
        run: async () => {
          await pm(c).delete(name);
        },
      });
      return async(c, op.toJSON());
    });

    app.get("/1.0/instances/:name/state", async (c) => {
      const name = c.req.param("name");
      await pm(c).get(name);
      return sync(c, await pm(c).state(name));
    });

    app.put("/1.0/instances/:name/state", async (c) => {
      const name = c.req.param("name");
      await pm(c).get(name);
      const b = await readJson<{ action?: string; timeout?: number; force?: boolean; stateful?: boolean }>(c);
      const actions: Record<string, { description: string; run: () => Promise<void> }> = {
        start: { description: "Starting instance", run: () => pm(c).start(name) },
        stop: {
          description: "Stopping instance",
          run: () => pm(c).stop(name, { force: b.force === true, timeout: b.timeout ?? -1 }),
        },
        restart: {
          description: "Restarting instance",
          run: () => pm(c).restart(name, { force: b.force === true, timeout: b.timeout ?? -1 }),
        },
        freeze: { description: "Freezing instance", run: () => pm(c).freeze(name) },
        unfreeze: { description: "Unfreezing instance", run: () => pm(c).unfreeze(name) },
      };
      const a = actions[b.action ?? ""];
      if (!a) throw badRequest(`Unknown action ${b.action ?? ""}`);
      if (b.stateful) throw badRequest("Stateful stop and start are not supported");
      const op = ctx.operations.create({
        class: "task",
        project: projectOf(c),
        description: a.description,
        resources: resources(name, projectOf(c)),
        run: async () => {
          await a.run();
        },
      });
      return async(c, op.toJSON());
    });

    app.post("/1.0/instances/:name/exec", async (c) => {
      const name = c.req.param("name");
      const req = await readJson<ExecRequest>(c);
      const target = await pm(c).execTarget(name, req);
      const op = ctx.operations.create({
        ...execOperation(req, target, resources(name, projectOf(c))),
        project: projectOf(c),
      });
      return async(c, op.toJSON());
    });

    instanceFileRoutes(app, m);
    instanceSnapshotRoutes(app, m, ctx);
    instancePostRoute(app, m, ctx);
    migrationRoutes(app, ctx);

    app.get("/1.0/instances/:name/logs", async (c) => {
      const name = c.req.param("name");
      return sync(c, (await pm(c).logs(name)).map((f) => `/1.0/instances/${name}/logs/${f}`));
    });
    app.get("/1.0/instances/:name/logs/:file", async (c) => {
      const path = await pm(c).logPath(c.req.param("name"), c.req.param("file"));
      const f = await Deno.open(path);
      return new Response(f.readable, { headers: { "Content-Type": "application/octet-stream" } });
    });
    app.delete("/1.0/instances/:name/logs/:file", async (c) => {
      const file = c.req.param("file");
      if (file === "lxc.log" || file === "console.log") {
        throw badRequest("Only exec record-output logs can be deleted");
      }
      await Deno.remove(await pm(c).logPath(c.req.param("name"), file));
      return emptySync(c);
    });

    // `lxc console`: the console on websockets (LXD's instanceConsolePost), containers only.
    app.post("/1.0/instances/:name/console", async (c) => {
      const name = c.req.param("name");
      const b = await readJson<{ width?: unknown; height?: unknown; type?: unknown }>(c);
      const type = b.type === undefined || b.type === "" ? "console" : b.type;
      if (type !== "console" && type !== "vga") throw badRequest(`Unknown console type "${String(type)}"`);
      if (type === "vga") throw badRequest("VGA console is only supported by virtual machines");
      const size = (v: unknown) => (typeof v === "number" && v > 0 ? v : undefined);
      const argv = await pm(c).consoleArgv(name);
      const op = ctx.operations.create({
        ...consoleOperation(
          { width: size(b.width), height: size(b.height) },
          argv,
          resources(name, projectOf(c)),
        ),
        project: projectOf(c),
      });
      return async(c, op.toJSON());
    });

    // `console --show-log`: the console's log as liblxc records it.
    app.get("/1.0/instances/:name/console", async (c) => {
      const name = c.req.param("name");
      await pm(c).get(name);
      let text = new Uint8Array();
      try {
        text = await Deno.readFile(pm(c).consolePath(name));
      } catch { /* never started */ }
      return new Response(text, { headers: { "Content-Type": "application/octet-stream" } });
    });
    app.delete("/1.0/instances/:name/console", async (c) => {
      const name = c.req.param("name");
      await pm(c).get(name);
      await Deno.writeFile(pm(c).consolePath(name), new Uint8Array()).catch(() => {});
      return emptySync(c);
    });
    return app;
  };
}
