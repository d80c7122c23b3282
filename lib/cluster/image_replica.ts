import { type GlobalDB, globalValue, readGlobalConfig } from "../db/mod.ts";
import type { Logger } from "../log/mod.ts";
import { type ConfState, roleOf } from "../raft/mod.ts";
import { errorMessage } from "../util/mod.ts";
import type { DbRole } from "./roles.ts";
import type { RouteTarget } from "./routing.ts";

/** A member as replication weighs it. */
export interface ReplicaMember {
  id: number;
  name: string;
  online: boolean;
  self: boolean;
  /** Its database role: voters take copies first (they stay longest, and a new leader is one). */
  role: DbRole;
}

/** The members routing sees, with their database roles from the Raft configuration. */
export function replicaMembers(targets: readonly RouteTarget[], conf: ConfState): ReplicaMember[] {
  // A member the configuration does not name yet (a joiner being added) ranks as a spare.
  return targets.map((t) => ({ ...t, role: roleOf(conf, t.id) ?? "spare" }));
}

const ROLE_RANK: Record<DbRole, number> = { voter: 0, standby: 1, spare: 2 };

/**
 * Whether this member should fetch an image to bring its copies up to the count
 * (cluster.images_minimal_replica: -1 every member, N members in all, 1 only the importer). The
 * members that lack it are taken voters first, then stand-bys, then spares (as LXD: the count
 * defaults to the number of database members), each in id order, so that every member decides
 * alike from its own copy of the database and of the Raft configuration without asking the
 * others: no two members race for one missing copy (for as long as a role change takes to
 * reach every member, two may both fetch it, one copy more than asked, never fewer).
 */
export function shouldReplicateHere(
  holders: readonly string[],
  members: readonly ReplicaMember[],
  count: number,
): boolean {
  const me = members.find((m) => m.self);
  if (!me || holders.includes(me.name)) return false;
  const online = members.filter((m) => m.online);
  const held = online.filter((m) => holders.includes(m.name)).length;
  // Nothing to copy from when no online member holds it (a lost holder comes back or it is gone).
  if (held === 0) return false;
  const wanted = count === -1 ? online.length : Math.min(count, online.length);
  const missing = wanted - held;
  if (missing <= 0) return false;
  const lacking = online.filter((m) => !holders.includes(m.name))
    .sort((a, b) => ROLE_RANK[a.role] - ROLE_RANK[b.role] || a.id - b.id);
  return lacking.slice(0, missing).some((m) => m.self);
}

/** What replication needs of its member. */
export interface ImageReplicaOptions {
  db: GlobalDB;
  members: () => ReplicaMember[];
  fetch: (fingerprint: string) => Promise<void>;
  log: Logger;
  /** How often the images are looked over (ms). */
  intervalMs?: number;
  /** Removes this member's copy of an image's file (gone when absent). */
  remove: (fingerprint: string) => Promise<void>;
  /**
   * Tells of images created or deleted on any member (relayed lifecycle events): a look-over, or
   * the removal of this member's copy, is worth doing at once. Returns its undoing.
   */
  nudges?: (on: (e: ImageNudge) => void) => () => void;
}

/** An image created or deleted somewhere in the cluster. */
export type ImageNudge = { kind: "created" } | { kind: "deleted"; fingerprint: string };

/**
 * Keeps images on as many members as cluster.images_minimal_replica asks (LXD copies on import
 * and when a member goes; here each member pulls what it should hold, so an import, a join and a
 * lost holder are all the same case: a copy short of the count, looked over every interval from
 * the local copy of the database, costing no traffic when nothing is short).
 */
export class ImageReplicator {
  #o: ImageReplicaOptions;
  #timer: ReturnType<typeof setInterval> | undefined;
  #busy = false;
  /** A look-over asked for while one ran: done right after it. */
  #again = false;
  #unsubscribe: (() => void) | null = null;
  /** Fingerprints whose last fetch failed, with when to try again (ms since the epoch). */
  #backoff = new Map<string, number>();

  constructor(o: ImageReplicaOptions) {
    this.#o = o;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.tick(), this.#o.intervalMs ?? 1000);
    // The importer's row may reach this member's copy of the database a moment after its event.
    this.#unsubscribe = this.#o.nudges?.((e) => {
      if (e.kind === "deleted") {
        void this.dropIfGone(e.fingerprint);
        return;
      }
      void this.tick();
      setTimeout(() => this.#timer !== undefined && void this.tick(), 100);
    }) ?? null;
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
  }

  /**
   * Deleting an image removes every copy (as LXD): each member drops its file once no project
   * has a record of that fingerprint any more, asked of the leader so a stale copy of the
   * database never keeps a deleted image's file, nor drops a live one.
   */
  async dropIfGone(fingerprint: string): Promise<void> {
    try {
      const used = await this.#o.db.read((tx) =>
        tx.get("SELECT id FROM images WHERE fingerprint = ?", fingerprint)
      );
      if (!used) await this.#o.remove(fingerprint);
    } catch (e) {
      this.#o.log.warn("Could not drop a deleted image's copy", { fingerprint, err: errorMessage(e) });
    }
  }

  /** One look over the images: fetches, one at a time, those this member should hold. */
  async tick(): Promise<void> {
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#busy = true;
    try {
      const o = this.#o;
      let rows: { fingerprint: string; holders: string[] }[];
      let count: number;
      try {
        ({ rows, count } = o.db.readStale((tx) => {
          const count = Number(globalValue(readGlobalConfig(tx), "cluster.images_minimal_replica"));
          const byFp = new Map<string, string[]>();
          for (
            const r of tx.query<{ fingerprint: string; name: string | null }>(
              `SELECT images.fingerprint, nodes.name FROM images
                 LEFT JOIN images_nodes ON images_nodes.image_id = images.id
                 LEFT JOIN nodes ON nodes.id = images_nodes.node_id`,
            )
          ) {
            const l = byFp.get(r.fingerprint) ?? [];
            if (r.name) l.push(r.name);
            byFp.set(r.fingerprint, l);
          }
          return { count, rows: [...byFp].map(([fingerprint, holders]) => ({ fingerprint, holders })) };
        }));
      } catch {
        return; // no schema yet (a member before its join)
      }
      if (count === 1 || rows.length === 0) return;
      const members = o.members();
      if (members.length < 2) return;
      for (const r of rows) {
        if (!shouldReplicateHere(r.holders, members, count)) continue;
        if ((this.#backoff.get(r.fingerprint) ?? 0) > Date.now()) continue;
        try {
          await o.fetch(r.fingerprint);
          this.#backoff.delete(r.fingerprint);
        } catch (e) {
          this.#backoff.set(r.fingerprint, Date.now() + 10_000);
          o.log.warn("Image replication failed", { fingerprint: r.fingerprint, err: errorMessage(e) });
        }
      }
    } finally {
      this.#busy = false;
      if (this.#again) {
        this.#again = false;
        void this.tick();
      }
    }
  }
}
