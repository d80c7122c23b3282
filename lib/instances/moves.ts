/**
 * This member's side of moving and copying instances between members: where an instance's root
 * volume is, the volumes offered to other members (sources), a move's arrival, a move's departure,
 * and the cleaning of what a killed move left behind.
 *
 * A move has one commit point, the transaction that re-homes the instance's rows (relocateInstance).
 * Around it, each side leaves a mark on disk that tells a restart what to do:
 * - the target receives into `containers/.incoming.KEY` and renames it to `containers/KEY` only
 *   after the commit; a staging volume whose instance the database does not give to this member
 *   is a move that never committed, and goes;
 * - the source writes `containers/.outgoing.KEY.json` before the stream starts and removes it once
 *   the outcome is known; a restart that finds it asks the database: the instance still here means
 *   the move failed (the volume stays, usable); anywhere else means it committed (the volume goes).
 * So a kill -9 of either member at any moment leaves exactly one usable instance.
 */
import {
  callOffMove,
  findInstance,
  getProfile,
  type GlobalDB,
  type InstanceRecord,
  listInstances,
  listPools,
  relocateInstance,
} from "../db/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { StorageDriver } from "../storage/mod.ts";
import { badRequest, errorMessage, forbidden, notFound, type TimerId, unrefTimer } from "../util/mod.ts";
import { expand, rootDisk } from "./config.ts";
import type { InstanceManager } from "./manager.ts";
import { tarVolume, untarInto } from "./volume_stream.ts";

/** Where an instance's root volume is on this member. */
export interface RootVolume {
  rec: InstanceRecord;
  poolName: string;
  pool: StorageDriver;
  /** The volume's name in the pool (LXD's PROJECT_NAME, the name alone in default). */
  key: string;
  dir: string;
}

/** An instance's root volume on this member; 400 when it has no root disk. */
export async function rootVolume(m: InstanceManager, name: string, linearizable = true): Promise<RootVolume> {
  const { rec, profiles } = await m.db.read((tx) => {
    const rec = findInstance(tx, name, m.project);
    if (!rec) throw notFound("Instance not found");
    return { rec, profiles: rec.profiles.map((p) => getProfile(tx, p, m.project)) };
  }, { stale: !linearizable });
  const root = rootDisk(expand(profiles, { config: rec.config, devices: rec.devices }).devices);
  if (!root) throw badRequest("Failed getting root disk: No root device could be found");
  const pool = await m.pool(root.pool);
  const key = m.key(name);
  return { rec, poolName: root.pool, pool, key, dir: pool.containerPath(key) };
}

const INCOMING = ".incoming.";
const OUTGOING = ".outgoing.";

/** The staging name of a volume arriving by a move. */
export function incomingKey(key: string): string {
  return `${INCOMING}${key}`;
}

/** What a source member remembers of a move it started, in its pool, until the outcome is known. */
export interface OutgoingMark {
  project: string;
  name: string;
  to: string;
  /** The member that wrote it: on a pool every member sees, the others leave it alone. */
  from: string;
  /** The move's id: a target that finds this very mark in its own pool shares the source's storage. */
  id: string;
  /**
   * Set by a target that shares the storage, before it commits: the volume is the instance's
   * whatever the outcome, and nobody may delete it.
   */
  shared?: boolean;
}

function markPath(pool: StorageDriver, key: string): string {
  return `${pool.containerPath(`${OUTGOING}${key}`)}.json`;
}

/** Writes a mark whole or not at all (a temporary file synced, then renamed over). */
async function writeMark(pool: StorageDriver, key: string, mark: OutgoingMark): Promise<void> {
  const path = markPath(pool, key);
  const tmp = `${path}.tmp`;
  const f = await Deno.open(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
  try {
    await f.write(new TextEncoder().encode(JSON.stringify(mark)));
    await f.sync();
  } finally {
    f.close();
  }
  await Deno.rename(tmp, path);
}

/** The mark of a move of key in this pool, if any. */
export async function readMark(pool: StorageDriver, key: string): Promise<OutgoingMark | null> {
  try {
    return JSON.parse(await Deno.readTextFile(markPath(pool, key))) as OutgoingMark;
  } catch {
    return null;
  }
}

/** Writes the source's mark (synced: it must be on disk before any byte leaves). */
export async function markOutgoing(v: RootVolume, mark: OutgoingMark): Promise<void> {
  await writeMark(v.pool, v.key, mark);
}

export async function unmarkOutgoing(v: { pool: StorageDriver; key: string }): Promise<void> {
  await Deno.remove(markPath(v.pool, v.key)).catch(() => {});
}

/** A volume (and its instance's snapshots) offered to one other member, each part once, under a secret. */
interface Offer {
  project: string;
  name: string;
  dir: string;
  /** The snapshots offered with it, by name: their directories. */
  snapshots: Map<string, string>;
  /** The parts not taken yet ("" the volume, else a snapshot's name). */
  parts: Set<string>;
  /** The id map its files are shifted by (volatile.last_state.idmap), for the copy's record. */
  idmap: string;
  secret: string;
  served: PromiseWithResolvers<void>;
  /** Told the bytes sent so far, as they go. */
  onBytes?: (bytes: number) => void;
  /** The offer's expiry. */
  timer?: TimerId;
}

/** How long an offer waits for its member to take it (LXD's migration websockets wait as long). */
const OFFER_TTL_MS = 10 * 60_000;

/**
 * Volumes this member offers to others: a move's or a copy's source. An offer is taken once, by
 * its id and secret (the member that takes it is a member: the route is member-only).
 */
export class MigrationSources {
  #offers = new Map<string, Offer>();

  /** Offers a volume; id is the operation's when a client's operation carries the secret. */
  offer(
    o: {
      project: string;
      name: string;
      dir: string;
      idmap: string;
      snapshots?: { name: string; dir: string }[];
      onBytes?: (bytes: number) => void;
    },
    id: string = crypto.randomUUID(),
  ): {
    id: string;
    secret: string;
    served: Promise<void>;
  } {
    const secret = crypto.randomUUID().replaceAll("-", "") + crypto.randomUUID().replaceAll("-", "");
    const served = Promise.withResolvers<void>();
    // Nobody waits on a failure unless they asked: no unhandled rejection.
    served.promise.catch(() => {});
    const snapshots = new Map((o.snapshots ?? []).map((x) => [x.name, x.dir]));
    const timer = setTimeout(
      () => this.withdraw(id, new Error("No member took the volume in time")),
      OFFER_TTL_MS,
    );
    unrefTimer(timer);
    this.#offers.set(id, {
      ...o,
      snapshots,
      parts: new Set(["", ...snapshots.keys()]),
      secret,
      served,
      timer,
    });
    return { id, secret, served: served.promise };
  }

  has(id: string): boolean {
    return this.#offers.has(id);
  }

  withdraw(id: string, why?: Error): void {
    const o = this.#offers.get(id);
    if (!o) return;
    this.#offers.delete(id);
    clearTimeout(o.timer);
    if (why) o.served.reject(why);
    else o.served.resolve();
  }

  /**
   * The stream of an offered volume, or of one of its snapshots; each part is taken once (a
   * second ask is refused). The volume's answer names the snapshots that come with it.
   */
  take(id: string, secret: string, snapshot?: string): Response {
    const o = this.#offers.get(id);
    if (!o) throw notFound("No such volume on offer: the move or copy ended, or it was taken already");
    if (o.secret !== secret) throw forbidden("Wrong secret for this volume");
    const part = snapshot ?? "";
    if (!o.parts.has(part)) {
      throw notFound(
        snapshot === undefined ? "The volume was taken already" : `No snapshot "${snapshot}" on offer`,
      );
    }
    o.parts.delete(part);
    if (o.parts.size === 0) {
      this.#offers.delete(id);
      clearTimeout(o.timer);
    }
    if (snapshot !== undefined) {
      return new Response(tarVolume(o.snapshots.get(snapshot)!), {
        headers: { "Content-Type": "application/x-tar" },
      });
    }
    // The offer is served once the volume's last byte went (or failed with the stream).
    const out = watched(tarVolume(o.dir), o.served, o.onBytes);
    return new Response(out, {
      headers: {
        "Content-Type": "application/x-tar",
        "X-Shoal-Idmap": o.idmap,
        "X-Shoal-Instance": encodeURIComponent(`${o.project}/${o.name}`),
        "X-Shoal-Snapshots": encodeURIComponent(JSON.stringify([...o.snapshots.keys()])),
      },
    });
  }
}

/** body, telling done when it ended (resolved) or broke or was dropped (rejected); pulled as read. */
function watched(
  body: ReadableStream<Uint8Array>,
  done: PromiseWithResolvers<void>,
  onBytes?: (bytes: number) => void,
): ReadableStream<Uint8Array> {
  const r = body.getReader();
  let bytes = 0;
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      try {
        const { value, done: end } = await r.read();
        if (end) {
          ctrl.close();
          done.resolve();
        } else {
          bytes += value.length;
          onBytes?.(bytes);
          ctrl.enqueue(value);
        }
      } catch (e) {
        ctrl.error(e);
        done.reject(e);
      }
    },
    cancel(why) {
      void r.cancel(why).catch(() => {});
      done.reject(new Error("The receiving member stopped reading the volume"));
    },
  }, { highWaterMark: 0 });
}

/** A move's arrival, as its source asks it of this member. */
export interface Arrival {
  project: string;
  name: string;
  /** The name here (the same when absent). */
  newName?: string;
  /** The member that holds it and streams it. */
  from: string;
  /** The move's id, as the source's mark has it. */
  moveId: string;
  /** The instance's snapshots, carried with it (their rows move with the instance's). */
  snapshots: string[];
  /** Opens the source's stream of the volume (a tar body), or of one of its snapshots. */
  pull: (snapshot?: string) => Promise<Response>;
}

/** The staging name of a snapshot arriving with its instance. */
export function incomingSnapshotKey(key: string, snap: string): string {
  return `${INCOMING}${key}${SNAP_SEP}${snap}`;
}

/** Instance names have no dots: what follows a key and this is a snapshot's name. */
const SNAP_SEP = ".snap.";

/**
 * Takes a moved instance in: streams its volume into a staging volume, commits the move in the
 * database, then gives the volume its name. Until the commit nothing is changed but the staging
 * volume, which a failure removes.
 */
export async function receiveMove(
  m: InstanceManager,
  here: string,
  a: Arrival,
  staging: Set<string>,
  progress?: (bytes: number) => void,
): Promise<"streamed" | "shared"> {
  const newName = a.newName ?? a.name;
  const v = await rootVolume(m, a.name);
  if (v.rec.location !== a.from) {
    throw badRequest(`Instance "${a.name}" is on "${v.rec.location}", not "${a.from}"`);
  }
  // The source's own mark in this member's pool: the storage is shared, nothing needs to travel.
  const mark = await readMark(v.pool, v.key);
  if (mark?.id === a.moveId) {
    await writeMark(v.pool, v.key, { ...mark, shared: true });
    await m.db.run(relocateInstance, {
      project: m.project,
      name: a.name,
      from: a.from,
      to: here,
      newName,
      moveId: a.moveId,
    });
    if (newName !== a.name) await renameVolumes(v.pool, v.key, m.key(newName));
    return "shared";
  }
  const key = m.key(newName);
  const inKey = incomingKey(key);
  const staged = [inKey, ...a.snapshots.map((n) => incomingSnapshotKey(key, n))];
  for (const k of staged) staging.add(k);
  const take = async (k: string, snapshot?: string) => {
    await v.pool.deleteContainerVolume(k);
    const dir = await v.pool.createContainerVolume(k);
    const res = await a.pull(snapshot);
    if (!res.ok || !res.body) throw new Error(await failureOf(res));
    await untarInto(dir, res.body, snapshot === undefined ? progress : undefined);
  };
  try {
    try {
      await take(inKey);
      for (const snap of a.snapshots) await take(incomingSnapshotKey(key, snap), snap);
      await m.db.run(relocateInstance, {
        project: m.project,
        name: a.name,
        from: a.from,
        to: here,
        newName,
        moveId: a.moveId,
      });
    } catch (e) {
      // Committed after all (an answer lost on the way)? Then the volumes are the instance's.
      const now = await m.db.read((tx) => findInstance(tx, newName, m.project)).catch(() => undefined);
      if (now?.location !== here) {
        for (const k of staged) await v.pool.deleteContainerVolume(k).catch(() => {});
        throw e;
      }
    }
    // Committed: whatever has the final names here is a leftover of an older failed move.
    await v.pool.deleteContainerVolume(key);
    await v.pool.renameContainerVolume(inKey, key);
    for (const snap of a.snapshots) await placeSnapshot(v.pool, key, snap);
  } finally {
    for (const k of staged) staging.delete(k);
  }
  return "streamed";
}

/** Renames an instance's volume and its snapshots' directory in a pool. */
export async function renameVolumes(pool: StorageDriver, from: string, to: string): Promise<void> {
  await pool.renameContainerVolume(from, to);
  const dir = (key: string) => pool.snapshotPath(key, "x").replace(/\/x$/, "");
  await Deno.rename(dir(from), dir(to)).catch(() => {});
}

/** Gives an arrived snapshot its place (containers-snapshots/KEY/SNAP). */
export async function placeSnapshot(pool: StorageDriver, key: string, snap: string): Promise<void> {
  const final = pool.snapshotPath(key, snap);
  await pool.deleteSnapshot(key, snap).catch(() => {});
  await Deno.mkdir(final.slice(0, final.lastIndexOf("/")), { recursive: true, mode: 0o700 });
  await Deno.rename(pool.containerPath(incomingSnapshotKey(key, snap)), final);
}

async function failureOf(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  try {
    return JSON.parse(text).error || `HTTP ${res.status}`;
  } catch {
    return `HTTP ${res.status}`;
  }
}

/** Removes what is left of an instance that moved away: its volume and liblxc's directory. */
export async function dropDeparted(m: InstanceManager, v: RootVolume): Promise<void> {
  await Deno.chmod(v.dir, 0o700).catch(() => {});
  await v.pool.deleteContainerVolume(v.key);
  await v.pool.deleteSnapshots(v.key);
  await m.lxc.destroy(v.key);
}

/**
 * After a restart (or a move whose outcome was unknown): settles every mark a move left in this
 * member's pools, as the module's comment says. Returns how many marks are still unsettled (the
 * database could not be asked); staging names in `busy` belong to arrivals in progress.
 */
export async function settleMoves(
  m: InstanceManager,
  here: string,
  log: Logger,
  busy: ReadonlySet<string> = new Set(),
): Promise<number> {
  let pending = 0;
  let mine: Set<string>;
  let pools: { name: string }[];
  try {
    ({ mine, pools } = await m.db.read((tx) => ({
      pools: listPools(tx, here),
      mine: new Set(listInstances(tx, here, null).map((i) => m.in(i.project).key(i.name))),
    })));
  } catch {
    return 1;
  }
  for (const p of pools) {
    let pool: StorageDriver;
    try {
      pool = await m.pool(p.name);
    } catch {
      continue; // not created on this member
    }
    const dir = pool.containerPath("");
    const names: string[] = [];
    try {
      for await (const e of Deno.readDir(dir)) names.push(e.name);
    } catch {
      continue;
    }
    for (const n of names) {
      try {
        if (n.startsWith(INCOMING) && n.includes(SNAP_SEP) && !busy.has(n)) {
          const rest = n.slice(INCOMING.length);
          const at = rest.indexOf(SNAP_SEP);
          const key = rest.slice(0, at);
          const snap = rest.slice(at + SNAP_SEP.length);
          const final = await Deno.stat(pool.snapshotPath(key, snap)).then(() => true, () => false);
          if (mine.has(key) && !final) await placeSnapshot(pool, key, snap);
          else await pool.deleteContainerVolume(n);
        } else if (n.startsWith(INCOMING) && !busy.has(n)) {
          const key = n.slice(INCOMING.length);
          const final = await Deno.stat(pool.containerPath(key)).then(() => true, () => false);
          if (mine.has(key) && !final) {
            await pool.renameContainerVolume(n, key);
            log.info("A move that committed before a restart is completed", { volume: key });
          } else {
            await pool.deleteContainerVolume(n);
            log.info("A move that never committed left a staging volume: removed", { volume: key });
          }
        } else if (n.startsWith(OUTGOING) && n.endsWith(".json")) {
          const key = n.slice(OUTGOING.length, -".json".length);
          const mark = JSON.parse(await Deno.readTextFile(`${dir}${n}`)) as OutgoingMark;
          // Another member's move on a pool every member sees: its own to settle.
          if (mark.from !== undefined && mark.from !== here) continue;
          // Called off first, so that no late arrival can commit after the database was asked.
          if (mark.id) {
            await m.db.run(callOffMove, { project: mark.project, name: mark.name, moveId: mark.id });
          }
          const now = await m.db.read((tx) => findInstance(tx, mark.name, mark.project));
          // On shared storage the volume is the instance's wherever it went: only the mark goes.
          if (now?.location !== here && !mark.shared) {
            await Deno.chmod(pool.containerPath(key), 0o700).catch(() => {});
            await pool.deleteContainerVolume(key);
            await pool.deleteSnapshots(key);
            await m.lxc.destroy(key);
            log.info("A move that committed before a restart leaves its source volume: removed", {
              instance: mark.name,
              to: mark.to,
            });
          }
          await Deno.remove(`${dir}${n}`);
        }
      } catch (e) {
        pending++;
        log.warn("Could not settle what a move left", { entry: n, err: errorMessage(e) });
      }
    }
  }
  return pending;
}

/** The local database view a move's source needs: is the instance still here? */
export async function whereIs(db: GlobalDB, project: string, name: string): Promise<string | null> {
  return (await db.read((tx) => findInstance(tx, name, project)))?.location ?? null;
}
