/**
 * Moving, copying and renaming instances across the cluster (LXD's POST /1.0/instances/NAME and
 * the copy sources of POST /1.0/instances). The root volume goes member to member over the
 * member-only route GET /internal/migrations/ID/volume (mutual TLS with the members' own
 * certificates, streamed by lib/instances/volume_stream.ts); the database switch of a move is one
 * transaction, and lib/instances/moves.ts says how each side recovers from a kill at any step.
 *
 * The entry point for other parts of the cluster (evacuation) is `move()`.
 */
import {
  callOffMove,
  copySnapshotRecords,
  findInstance,
  type GlobalDB,
  type InstanceRecord,
  listSnapshots,
  MOVE_KEY,
  projectUrl,
  renameInstanceRecords,
  setInstanceKeys,
} from "../db/mod.ts";
import {
  checkDisks,
  copyRequest,
  createRequestProblem,
  dropDeparted,
  incomingSnapshotKey,
  type InstanceManager,
  type InstancesPost,
  markOutgoing,
  MigrationSources,
  placeSnapshot,
  readMark,
  receiveMove,
  renameVolumes,
  rootVolume,
  settleMoves,
  tarVolume,
  unmarkOutgoing,
  untarInto,
} from "../instances/mod.ts";
import type { EventHub } from "../events/mod.ts";
import type { Logger } from "../log/mod.ts";
import {
  badRequest,
  byteSize,
  conflict,
  errorMessage,
  notFound,
  StatusError,
  unrefTimer,
} from "../util/mod.ts";
import type { PlacementTarget } from "./placement.ts";
import type { MemberRouting } from "./routing.ts";

/** LXD's refusal of a running container's stateful move (LXD 5.0 needs CRIU; shoal has none). */
export const LIVE_MIGRATION_REFUSAL =
  "Unable to perform container live migration. CRIU isn't installed on the source server";

/** A move of one instance to another member. */
export interface MoveRequest {
  project: string;
  name: string;
  /** A member's name, "@GROUP", or "" for the scheduler's choice (scheduler.instance applies). */
  target: string;
  /** Its name there (the same when absent). */
  newName?: string;
  /** A running instance is stopped, moved and started again (lxc move --stateless). */
  stateless: boolean;
}

/** What a member that takes a moved instance is told. */
export interface ArrivalCall {
  project: string;
  name: string;
  newName: string;
  from: string;
  /** The move's id, as the source's mark has it. */
  moveId: string;
  offer: { id: string; secret: string };
  /** The instance's snapshots, offered with its volume. */
  snapshots?: string[];
}

export interface InstanceMovesOptions {
  db: GlobalDB;
  instances: InstanceManager;
  routing: MemberRouting;
  location: () => string;
  log: Logger;
  /** Lifecycle events (instance-renamed, as LXD raises it). */
  events?: EventHub;
  /** The address of the member that holds operation id (a copy's source), if any member does. */
  operationOwner: (id: string) => Promise<string | undefined>;
  /** The member a moved instance goes to when the request names none (placement.ts). */
  place: (target: PlacementTarget, name: string, project: string, exclude: string) => Promise<string>;
}

/** How long a stream may go without a byte, and an arrival may take to commit after it, before the source gives up. */
const STALL_MS = 60_000;
const COMMIT_MS = 120_000;

/**
 * Watches a move's arrival call: it fails when the volume's stream stalls (a target partitioned
 * away sends no RST, and the call would hang with the instance locked) or when the commit takes
 * too long after the stream ended. The source then calls the move off and asks the database.
 */
class StallWatch {
  #last = Date.now();
  #streamedAt = 0;
  #tell?: (bytes: number) => void;
  constructor(tell?: (bytes: number) => void) {
    this.#tell = tell;
  }
  bytes(n: number): void {
    this.#last = Date.now();
    this.#tell?.(n);
  }
  streamed(): void {
    this.#streamedAt = Date.now();
  }
  race<T>(p: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setInterval> | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setInterval(() => {
        const now = Date.now();
        if (this.#streamedAt === 0 && now - this.#last > STALL_MS) {
          reject(new Error(`The target member took no byte of the volume for ${STALL_MS / 1000} s`));
        } else if (this.#streamedAt > 0 && now - this.#streamedAt > COMMIT_MS) {
          reject(
            new Error(`The target member did not commit within ${COMMIT_MS / 1000} s of the stream's end`),
          );
        }
      }, 1_000);
    });
    return Promise.race([p, stalled]).finally(() => clearInterval(timer));
  }
}

/** How long a stopped-for-the-move instance gets to stop cleanly (LXD's default for a stateless stop). */
const STOP_TIMEOUT_S = 30;

export class InstanceMoves {
  /** Volumes offered to other members. */
  readonly sources = new MigrationSources();
  #o: InstanceMovesOptions;
  /** Staging volumes of arrivals in progress: settling leaves them alone. */
  #staging = new Set<string>();
  #retry: ReturnType<typeof setTimeout> | undefined;

  constructor(o: InstanceMovesOptions) {
    this.#o = o;
  }

  /**
   * The member a move goes to: a named one (404 with LXD's text when there is none; "Target node
   * is offline" when it is), or the scheduler's pick for "" and "@GROUP".
   */
  async destination(r: MoveRequest): Promise<string> {
    const here = this.#o.location();
    if (r.target === "" || r.target.startsWith("@")) {
      return await this.#o.place(
        r.target === "" ? null : { group: r.target.slice(1) },
        r.name,
        r.project,
        here,
      );
    }
    const t = this.#o.routing.resolve(r.target);
    if (!t.online) throw badRequest("Target node is offline");
    return t.name;
  }

  /** The checks of a move that need no operation: what is refused changes nothing. */
  async checkMove(r: MoveRequest): Promise<string> {
    const m = this.#o.instances.in(r.project);
    const inst = await m.get(r.name);
    const to = await this.destination(r);
    if (inst.status !== "Stopped" && !r.stateless) {
      throw badRequest(
        `${LIVE_MIGRATION_REFUSAL}: stop the instance first, or move it with --stateless (stopped, moved, started again)`,
      );
    }
    // A custom volume lives on one member: an instance using one cannot leave it behind.
    if (to !== this.#o.location()) {
      await this.#o.db.read((tx) => {
        try {
          checkDisks(tx, inst.expanded_devices, to, true, r.project);
        } catch (e) {
          throw badRequest(
            `Instance "${r.name}" cannot move to "${to}": ${
              errorMessage(e).replace(/ on this member$/, ` on "${to}"`)
            }`,
          );
        }
      });
    }
    return to;
  }

  /**
   * Moves an instance of this member to another (the entry point: routes and evacuation). Resolves
   * once the instance is there (started again when it ran and the move is stateless); rejects with
   * the cause otherwise, the instance then still here and as it was.
   */
  async move(r: MoveRequest, progress?: (text: string) => void): Promise<void> {
    const here = this.#o.location();
    const owner = await this.#o.db.read((tx) => findInstance(tx, r.name, r.project));
    if (!owner) throw notFound("Instance not found");
    // Only the instance's member can move it: asked from elsewhere, the move goes there.
    if (owner.location !== here) return await this.#moveThrough(owner.location, r);
    const to = await this.checkMove(r);
    const m = this.#o.instances.in(r.project);
    const newName = r.newName || r.name;
    if (to === here) {
      if (newName !== r.name) await this.rename(r.project, r.name, newName);
      return;
    }
    let wasRunning = false;
    const committed = await m.locked(r.name, async () => {
      const v = await rootVolume(m, r.name);
      if (v.rec.location !== here) throw conflict(`Instance "${r.name}" is now on "${v.rec.location}"`);
      if ((await m.lxcState(r.name)).state !== "STOPPED") {
        if (!r.stateless) throw badRequest(LIVE_MIGRATION_REFUSAL);
        await m.lxc.stop(v.key, { force: false, timeout: STOP_TIMEOUT_S }).catch(() =>
          m.lxc.stop(v.key, { force: true, timeout: -1 })
        );
        wasRunning = true;
      }
      const moveId = crypto.randomUUID();
      await markOutgoing(v, { project: r.project, name: r.name, to, from: here, id: moveId });
      // The move's id on the instance: the target's commit requires it, and calling it off removes it.
      await this.#o.db.run(setInstanceKeys, {
        project: r.project,
        name: r.name,
        keys: { [MOVE_KEY]: moveId },
      });
      const snapshots = (await this.#o.db.read((tx) => listSnapshots(tx, r.name, r.project))).map((x) =>
        x.name
      );
      const watch = new StallWatch(progress && rate(progress));
      const offer = this.sources.offer({
        project: r.project,
        name: r.name,
        dir: v.dir,
        idmap: v.rec.config["volatile.last_state.idmap"] ?? "[]",
        snapshots: snapshots.map((n) => ({ name: n, dir: v.pool.snapshotPath(v.key, n) })),
        onBytes: (n) => watch.bytes(n),
      });
      offer.served.then(() => watch.streamed(), () => {});
      let failure: unknown = await watch.race(this.#call(
        to,
        "POST",
        "/internal/migrations/arrive",
        {
          project: r.project,
          name: r.name,
          newName,
          from: here,
          moveId,
          offer: { id: offer.id, secret: offer.secret },
          snapshots,
        } satisfies ArrivalCall,
      )).then(() => null, (e) => e);
      this.sources.withdraw(offer.id, new Error("The move ended"));
      if (failure) {
        // Called off before the database is asked: a target that commits later cannot.
        await this.#o.db.run(callOffMove, { project: r.project, name: r.name, moveId }).catch((e) => {
          failure = new Error(
            `${errorMessage(failure)}; calling the move off failed too: ${errorMessage(e)}`,
          );
        });
      }
      // The database is the only judge of the outcome: the instance is where its row says.
      let at: InstanceRecord | undefined;
      try {
        at = await this.#o.db.read((tx) => findInstance(tx, r.name, r.project));
      } catch (e) {
        this.#settleLater();
        throw new StatusError(
          503,
          `The move of "${r.name}" to "${to}" has an unknown outcome (${
            errorMessage(failure ?? e)
          }): the database cannot be asked now; both members settle it once it can`,
        );
      }
      if (at?.location === here) {
        await unmarkOutgoing(v);
        if (!failure) failure = new Error("The target member answered, but the move did not commit");
        return { ok: false as const, failure };
      }
      // On storage both members see, the target took the volume as it is: only liblxc's directory goes.
      if ((await readMark(v.pool, v.key))?.shared) await m.lxc.destroy(v.key);
      else await dropDeparted(m, v);
      await unmarkOutgoing(v);
      return { ok: true as const };
    });
    if (!committed.ok) {
      if (wasRunning) await m.start(r.name).catch(() => {});
      throw new StatusError(
        errorStatus(committed.failure),
        `Failed moving instance "${r.name}" to "${to}": ${errorMessage(committed.failure)}`,
      );
    }
    if (wasRunning) {
      progress?.("Starting the instance on its new member");
      await this.#startOn(to, r.project, newName);
    }
  }

  /** A move's arrival on this member (POST /internal/migrations/arrive, from the source). */
  async arrive(a: ArrivalCall): Promise<void> {
    const m = this.#o.instances.in(a.project);
    await m.locked(a.newName, () =>
      receiveMove(m, this.#o.location(), {
        project: a.project,
        name: a.name,
        newName: a.newName,
        from: a.from,
        moveId: a.moveId,
        snapshots: a.snapshots ?? [],
        pull: (snapshot) => this.#pull(a.from, a.offer, snapshot),
      }, this.#staging));
  }

  /**
   * Offers an instance's volume of this member to another, with its snapshots unless
   * instanceOnly (POST /internal/migrations/offer, and a client's pull-mode source).
   */
  async offer(
    project: string,
    name: string,
    o: { id?: string; instanceOnly?: boolean } = {},
  ): Promise<{ id: string; secret: string; served: Promise<void> }> {
    const v = await rootVolume(this.#o.instances.in(project), name);
    const snapshots = o.instanceOnly ? [] : (await this.#o.db.read((tx) => listSnapshots(tx, name, project)));
    return this.sources.offer({
      project,
      name,
      dir: v.dir,
      idmap: v.rec.config["volatile.last_state.idmap"] ?? "[]",
      snapshots: snapshots.map((x) => ({ name: x.name, dir: v.pool.snapshotPath(v.key, x.name) })),
    }, o.id);
  }

  /** Renames a stopped instance of this member (its rows, its volume, liblxc's directory). */
  async rename(project: string, name: string, newName: string): Promise<void> {
    const m = this.#o.instances.in(project);
    await m.locked(name, async () => {
      const v = await rootVolume(m, name);
      if ((await m.lxcState(name)).state !== "STOPPED") {
        throw badRequest("Renaming of running instance not allowed");
      }
      const taken = await this.#o.db.read((tx) => findInstance(tx, newName, project));
      if (taken) throw conflict(`Name "${newName}" already in use`);
      const key = m.key(newName);
      await renameVolumes(v.pool, v.key, key);
      try {
        await this.#o.db.run(renameInstanceRecords, { project, name, newName });
      } catch (e) {
        await renameVolumes(v.pool, key, v.key).catch(() => {});
        throw e;
      }
      // liblxc's directory goes with the name (the snapshots' rows hang off the instance's).
      await Deno.rename(m.lxc.dir(v.key), m.lxc.dir(key)).catch(() => {});
      this.#o.events?.lifecycle(
        "instance-renamed",
        projectUrl(`/1.0/instances/${newName}`, project),
        { old_name: name },
        project,
      );
    });
  }

  /** The checks of a copy that need no operation (LXD's texts); the new instance's name. */
  async checkCopy(project: string, req: InstancesPost): Promise<string> {
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
          const offer = await this.#call<{ id: string; secret: string }>(
            rec.location,
            "POST",
            "/internal/migrations/offer",
            { project: fromProject, name: rec.name, instanceOnly },
          );
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

  /**
   * Settles what killed moves left in this member's pools (at start, and again later while the
   * database cannot be asked).
   */
  async recover(): Promise<void> {
    const left = await settleMoves(this.#o.instances, this.#o.location(), this.#o.log, this.#staging);
    if (left > 0) this.#settleLater();
  }

  close(): void {
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    this.#retry = undefined;
  }

  #settleLater(): void {
    if (this.#retry !== undefined) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      void this.recover();
    }, 5_000);
    unrefTimer(this.#retry);
  }

  /** The member (this one: "") holding a copy's source operation. */
  async #ownerOf(id: string): Promise<string> {
    if (this.sources.has(id)) return "";
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
    const res = await this.#pull(member, offer);
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
        const r = await this.#pull(member, offer, snap);
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
        this.#staging.add(k);
        try {
          await v.pool.deleteContainerVolume(k);
          const dir = await v.pool.createContainerVolume(k);
          await untarInto(dir, await open(snap));
          await placeSnapshot(v.pool, v.key, snap);
        } catch (e) {
          await v.pool.deleteContainerVolume(k).catch(() => {});
          throw e;
        } finally {
          this.#staging.delete(k);
        }
      }
    } catch (e) {
      await v.pool.deleteSnapshots(v.key).catch(() => {});
      throw e;
    }
  }

  /** Opens an offered volume's stream on the member that offers it. */
  async #pull(member: string, offer: { id: string; secret: string }, snapshot?: string): Promise<Response> {
    if (member === "" || member === this.#o.location()) {
      return this.sources.take(offer.id, offer.secret, snapshot);
    }
    return await this.#o.routing.forward(
      member,
      new Request(
        `http://shoal/internal/migrations/${encodeURIComponent(offer.id)}/volume?secret=${
          encodeURIComponent(offer.secret)
        }${snapshot === undefined ? "" : `&snapshot=${encodeURIComponent(snapshot)}`}`,
      ),
      null,
    );
  }

  /** A JSON call to another member as this member; its metadata, or its error as a StatusError. */
  async #call<T = unknown>(member: string, method: string, path: string, body: unknown): Promise<T> {
    const res = await this.#o.routing.forward(
      member,
      new Request(`http://shoal${path}`, {
        method,
        body: JSON.stringify(body),
        headers: { "Content-Type": "application/json" },
      }),
      null,
    );
    const text = await res.text();
    let env: { error?: string; metadata?: T } = {};
    try {
      env = JSON.parse(text);
    } catch { /* not an envelope */ }
    if (!res.ok) throw new StatusError(res.status, env.error || `HTTP ${res.status} from "${member}"`);
    return env.metadata as T;
  }

  /** A move asked of the instance's member (the scheduler's pick is made here first). */
  async #moveThrough(owner: string, r: MoveRequest): Promise<void> {
    const to = r.target === "" || r.target.startsWith("@") ? await this.destination(r) : r.target;
    const q = `project=${encodeURIComponent(r.project)}&target=${encodeURIComponent(to)}`;
    const res = await this.#o.routing.forward(
      owner,
      new Request(`http://shoal/1.0/instances/${encodeURIComponent(r.name)}?${q}`, {
        method: "POST",
        body: JSON.stringify({ name: r.newName || r.name, migration: true, live: !r.stateless }),
        headers: { "Content-Type": "application/json" },
      }),
      null,
    );
    await this.#waitAnswer(owner, res, `Failed moving instance "${r.name}" through "${owner}"`);
  }

  /** Waits for the operation a member's 202 names; throws its error (or the refusal) with `what`. */
  async #waitAnswer(member: string, res: Response, what: string): Promise<void> {
    const env = await res.json().catch(() => ({})) as { error?: string; operation?: string };
    if (!res.ok || !env.operation) throw new StatusError(res.ok ? 502 : res.status, `${what}: ${env.error}`);
    const op = await this.#o.routing.ask<{ status: string; err: string }>(
      member,
      `${env.operation}/wait?timeout=3600`,
      3_610_000,
    );
    if (op.status !== "Success") throw new Error(`${what}: ${op.err}`);
  }

  /** Starts an instance on another member and waits for it. */
  async #startOn(member: string, project: string, name: string): Promise<void> {
    const res = await this.#o.routing.forward(
      member,
      new Request(
        `http://shoal/1.0/instances/${encodeURIComponent(name)}/state?project=${encodeURIComponent(project)}`,
        {
          method: "PUT",
          body: JSON.stringify({ action: "start" }),
          headers: { "Content-Type": "application/json" },
        },
      ),
      null,
    );
    await this.#waitAnswer(member, res, `Moved, but failed starting it on "${member}"`);
  }
}

/** A byte counter told as LXD's transfer progress ("12.34MB (56.78MB/s)"), a few times a second. */
function rate(progress: (text: string) => void): (bytes: number) => void {
  const start = performance.now();
  let told = 0;
  return (bytes) => {
    const now = performance.now();
    if (now - told < 250) return;
    told = now;
    progress(`${byteSize(bytes)} (${byteSize(bytes / Math.max((now - start) / 1000, 0.001))}/s)`);
  };
}

function errorStatus(e: unknown): number {
  return e instanceof StatusError ? e.status : 500;
}
