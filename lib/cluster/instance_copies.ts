/**
 * Copies of instances (POST /1.0/instances with source type copy, or a pull migration whose
 * source operation is a member's): created on this member, the volume copied on the disk when the
 * source is here, streamed from its member otherwise, with the snapshots unless instance_only.
 */
import { copySnapshotRecords, findInstance, type GlobalDB, listSnapshots } from "../db/mod.ts";
import {
  copyRequest,
  createRequestProblem,
  incomingSnapshotKey,
  type InstanceManager,
  type InstancesPost,
  type MigrationSources,
  placeSnapshot,
  rootVolume,
  tarVolume,
  untarInto,
} from "../instances/mod.ts";
import { badRequest, conflict, notFound } from "../util/mod.ts";
import { callVia, rate } from "./move_calls.ts";
import { MEMBER_CALLS } from "./member_calls.ts";
import type { MemberRouting } from "./routing.ts";

/** What copies need of their member and of the moves they share the offers with. */
export interface InstanceCopiesOptions {
  db: GlobalDB;
  instances: InstanceManager;
  routing: MemberRouting;
  location: () => string;
  operationOwner: (id: string) => Promise<string | undefined>;
  sources: MigrationSources;
  /** Staging volumes in progress (settling leaves them alone). */
  staging: Set<string>;
  /** Opens an offered volume's (or snapshot's) stream on its member ("": this one). */
  pull: (member: string, offer: { id: string; secret: string }, snapshot?: string) => Promise<Response>;
}

export class InstanceCopies {
  #o: InstanceCopiesOptions;

  constructor(o: InstanceCopiesOptions) {
    this.#o = o;
  }

  /** The checks of a copy that need no operation (LXD's texts); the new instance's name. */
  async check(project: string, req: InstancesPost): Promise<string> {
    const bad = createRequestProblem({ ...req, source: { type: "none" } });
    if (bad) throw badRequest(bad);
    const src = req.source ?? {};
    const { source, taken } = await this.#o.db.read((tx) => ({
      source: src.type === "copy" && src.source ? findInstance(tx, src.source, src.project || project) : null,
      taken: findInstance(tx, req.name!, project),
    }));
    if (src.type === "copy" && !source) throw notFound("Instance not found");
    if (taken) throw conflict(`Instance "${req.name}" already exists`);
    return req.name!;
  }

  /**
   * Creates a copy of an instance on this member (POST /1.0/instances with source type copy, or a
   * pull migration whose source operation is a member's): the volume is copied in place when the
   * source is here, streamed from its member otherwise.
   */
  async copyHere(
    project: string,
    req: InstancesPost,
    progress: (text: string, key?: "download_progress") => void,
  ): Promise<string> {
    const m = this.#o.instances.in(project);
    const here = this.#o.location();
    const src = req.source ?? {};
    let full: InstancesPost;
    let fill: (volume: string) => Promise<Record<string, string>>;
    if (src.type === "copy") {
      const fromProject = src.project || project;
      if (!src.source) throw badRequest("Must specify a source instance");
      const rec = await this.#o.db.read((tx) => findInstance(tx, src.source!, fromProject));
      if (!rec) throw notFound("Instance not found");
      full = copyRequest(rec, req);
      const instanceOnly = src.instance_only === true;
      fill = async (volume) => {
        if (rec.location !== here) {
          const offer = await callVia(this.#o.routing, rec.location, MEMBER_CALLS.migrationOffer, {
            project: fromProject,
            name: rec.name,
            instanceOnly,
          });
          return await this.#fillFrom(rec.location, offer, volume, progress, project, req.name!);
        }
        // The source is here: a copy on the disk (a btrfs snapshot, cp -a) when the pool is the same.
        const from = await rootVolume(this.#o.instances.in(fromProject), rec.name);
        const key = m.key(req.name!);
        if (from.pool.containerPath(key) === volume) {
          await from.pool.deleteContainerVolume(key);
          await from.pool.copyContainerVolume(from.key, key);
        } else {
          await untarInto(volume, tarVolume(from.dir));
        }
        const snaps = instanceOnly
          ? []
          : (await this.#o.db.read((tx) => listSnapshots(tx, rec.name, fromProject))).map((x) => x.name);
        await this.#copySnapshots(
          { project, name: req.name!, fromProject, from: rec.name, snapshots: snaps },
          (snap) => Promise.resolve(tarVolume(from.pool.snapshotPath(from.key, snap))),
        );
        return { "volatile.last_state.idmap": rec.config["volatile.last_state.idmap"] ?? "[]" };
      };
    } else if (src.type === "migration") {
      if ((src.mode ?? "pull") !== "pull") {
        throw badRequest(`Migration mode "${src.mode}" is not supported between cluster members: use pull`);
      }
      const id = /\/1\.0\/operations\/([^/?#]+)/.exec(src.operation ?? "")?.[1];
      const secret = src.secrets?.fs;
      if (!id || !secret) throw badRequest("A migration source needs its operation URL and its fs secret");
      const owner = await this.#ownerOf(decodeURIComponent(id));
      full = { ...req, config: { ...(req.config ?? {}) } };
      if (src["base-image"]) full.config!["volatile.base_image"] = src["base-image"];
      fill = (volume) =>
        this.#fillFrom(owner, { id: decodeURIComponent(id), secret }, volume, progress, project, req.name!);
    } else {
      throw badRequest(`Unknown source type ${src.type}`);
    }
    const prepared = await m.prepareCreate({ ...full, source: { type: "none" } });
    await m.create(full, prepared, progress, fill);
    return prepared.name;
  }

  /** The member (this one: "") holding a copy's source operation. */
  async #ownerOf(id: string): Promise<string> {
    if (this.#o.sources.has(id)) return "";
    const address = await this.#o.operationOwner(id);
    const member = this.#o.routing.members().find((t) => t.address === address);
    if (!member) {
      throw badRequest(
        "The migration source is not an operation of this cluster: copies from another server are not supported",
      );
    }
    return member.self ? "" : member.name;
  }

  async #fillFrom(
    member: string,
    offer: { id: string; secret: string },
    volume: string,
    progress: (text: string, key?: "download_progress") => void,
    project: string,
    name: string,
  ): Promise<Record<string, string>> {
    const res = await this.#o.pull(member, offer);
    if (!res.ok || !res.body) throw new Error(await res.text().catch(() => `HTTP ${res.status}`));
    const idmap = res.headers.get("X-Shoal-Idmap") ?? "[]";
    const source = decodeURIComponent(res.headers.get("X-Shoal-Instance") ?? "");
    const snapshots = JSON.parse(
      decodeURIComponent(res.headers.get("X-Shoal-Snapshots") ?? "%5B%5D"),
    ) as string[];
    await untarInto(volume, res.body, rate(progress));
    const at = source.indexOf("/");
    await this.#copySnapshots(
      { project, name, fromProject: source.slice(0, at), from: source.slice(at + 1), snapshots },
      async (snap) => {
        const r = await this.#o.pull(member, offer, snap);
        if (!r.ok || !r.body) throw new Error(await r.text().catch(() => `HTTP ${r.status}`));
        return r.body;
      },
    );
    return { "volatile.last_state.idmap": idmap };
  }

  /**
   * A copy's snapshots: their rows recorded for the copy, their files streamed into staging
   * volumes and put in place; undone (files) on a failure, the rows going with the copy's.
   */
  async #copySnapshots(
    c: { project: string; name: string; fromProject: string; from: string; snapshots: string[] },
    open: (snapshot: string) => Promise<ReadableStream<Uint8Array>>,
  ): Promise<void> {
    if (c.snapshots.length === 0) return;
    await this.#o.db.run(copySnapshotRecords, {
      fromProject: c.fromProject,
      from: c.from,
      project: c.project,
      to: c.name,
      only: c.snapshots,
    });
    const v = await rootVolume(this.#o.instances.in(c.project), c.name);
    try {
      for (const snap of c.snapshots) {
        const k = incomingSnapshotKey(v.key, snap);
        this.#o.staging.add(k);
        try {
          await v.pool.deleteContainerVolume(k);
          const dir = await v.pool.createContainerVolume(k);
          await untarInto(dir, await open(snap));
          await placeSnapshot(v.pool, v.key, snap);
        } catch (e) {
          await v.pool.deleteContainerVolume(k).catch(() => {});
          throw e;
        } finally {
          this.#o.staging.delete(k);
        }
      }
    } catch (e) {
      await v.pool.deleteSnapshots(v.key).catch(() => {});
      throw e;
    }
  }
}
