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
  dropDeparted,
  type InstanceManager,
  type InstancesPost,
  markOutgoing,
  MigrationSources,
  readMark,
  receiveMove,
  renameVolumes,
  rootVolume,
  settleMoves,
  unmarkOutgoing,
} from "../instances/mod.ts";
import type { EventHub } from "../events/mod.ts";
import type { Logger } from "../log/mod.ts";
import { badRequest, conflict, errorMessage, notFound, StatusError, unrefTimer } from "../util/mod.ts";
import { callVia, errorStatus, rate, StallWatch, waitAnswer } from "./move_calls.ts";
import { type ArrivalCall, MEMBER_CALLS } from "./member_calls.ts";
import { InstanceCopies } from "./instance_copies.ts";
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

/** How long a stopped-for-the-move instance gets to stop cleanly (LXD's default for a stateless stop). */
const STOP_TIMEOUT_S = 30;

export class InstanceMoves {
  /** Volumes offered to other members. */
  readonly sources = new MigrationSources();
  #o: InstanceMovesOptions;
  /** Staging volumes of arrivals in progress: settling leaves them alone. */
  #staging = new Set<string>();
  #retry: ReturnType<typeof setTimeout> | undefined;

  #copies: InstanceCopies;

  constructor(o: InstanceMovesOptions) {
    this.#o = o;
    this.#copies = new InstanceCopies({
      ...o,
      sources: this.sources,
      staging: this.#staging,
      pull: (member, offer, snapshot) => this.#pull(member, offer, snapshot),
    });
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
      let failure: unknown = await watch.race(
        callVia(this.#o.routing, to, MEMBER_CALLS.migrationArrive, {
          project: r.project,
          name: r.name,
          newName,
          from: here,
          moveId,
          offer: { id: offer.id, secret: offer.secret },
          snapshots,
        }),
      ).then(() => null, (e) => e);
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
  checkCopy(project: string, req: InstancesPost): Promise<string> {
    return this.#copies.check(project, req);
  }

  /** Creates a copy of an instance on this member (instance_copies.ts). */
  copyHere(
    project: string,
    req: InstancesPost,
    progress: (text: string, key?: "download_progress") => void,
  ): Promise<string> {
    return this.#copies.copyHere(project, req, progress);
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
    await waitAnswer(this.#o.routing, owner, res, `Failed moving instance "${r.name}" through "${owner}"`);
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
    await waitAnswer(this.#o.routing, member, res, `Moved, but failed starting it on "${member}"`);
  }
}
