/**
 * Instance snapshots on the instance's member (LXD's `lxc snapshot`, `lxc restore`, the
 * snapshots of `lxc info`): the root volume copied by the pool's driver (dir: a full copy;
 * btrfs: a subvolume snapshot) beside the instance's config and devices in the database.
 * Requests for another member's instance reach this member through the owner forwarding of the
 * instance routes, as every other instance request does.
 */
import {
  createSnapshotRecord,
  deleteSnapshotRecord,
  getInstance,
  getProfile,
  getSnapshot,
  type InstanceRecord,
  listSnapshots,
  type ProfileRecord,
  renameSnapshotRecord,
  type SnapshotRecord,
  updateInstance,
  updateSnapshotRecord,
} from "../db/mod.ts";
import type { StorageDriver } from "../storage/mod.ts";
import { badRequest, conflict } from "../util/mod.ts";
import { expand, rootDisk, sortKeys } from "./config.ts";
import type { InstanceManager } from "./manager.ts";
import { keepVolatile } from "./requests.ts";

/** LXD's api.InstanceSnapshot. */
export interface SnapshotJSON {
  architecture: string;
  config: Record<string, string>;
  created_at: string;
  devices: Record<string, Record<string, string>>;
  ephemeral: boolean;
  expanded_config: Record<string, string>;
  expanded_devices: Record<string, Record<string, string>>;
  last_used_at: string;
  name: string;
  profiles: string[];
  stateful: boolean;
  size: number;
  expires_at: string;
}

/** Go's zero time: what LXD shows for a snapshot that never expires. */
export const NEVER = "0001-01-01T00:00:00Z";

/** LXD's validate.IsURLSegmentSafe, as a snapshot name is checked. */
export function snapshotNameProblem(name: string): string | null {
  for (const c of ["/", "?", "&", "+"]) {
    if (name.includes(c)) return `Invalid snapshot name: Cannot contain "${c}"`;
  }
  return null;
}

/** An expiry as the API takes it: an RFC 3339 time, Go's zero time or nothing for none. */
export function expiryOf(v: unknown): string {
  if (v === undefined || v === null || v === "" || v === NEVER) return "";
  if (typeof v !== "string" || Number.isNaN(Date.parse(v))) {
    throw badRequest(`Invalid expires_at "${String(v)}": expected an RFC 3339 time`);
  }
  return new Date(Date.parse(v)).toISOString();
}

export class InstanceSnapshots {
  constructor(readonly m: InstanceManager) {}

  async #load(name: string) {
    return await this.m.db.read((tx) => {
      const rec = getInstance(tx, name, this.m.project);
      const profiles: ProfileRecord[] = rec.profiles.map((p) => getProfile(tx, p, this.m.project));
      return { rec, profiles };
    });
  }

  /** The pool holding the instance's root volume (and so its snapshots). */
  async #pool(name: string): Promise<StorageDriver> {
    const { rec, profiles } = await this.#load(name);
    const root = rootDisk(expand(profiles, { config: rec.config, devices: rec.devices }).devices);
    if (!root) throw badRequest("Failed getting root disk: No root device could be found");
    return await this.m.pool(root.pool);
  }

  #json(rec: { rec: InstanceRecord; profiles: ProfileRecord[] }, s: SnapshotRecord): SnapshotJSON {
    const e = expand(rec.profiles, { config: s.config, devices: s.devices });
    return {
      architecture: rec.rec.architecture,
      config: s.config,
      created_at: s.created_at,
      devices: s.devices,
      ephemeral: rec.rec.ephemeral,
      expanded_config: e.config,
      expanded_devices: e.devices,
      last_used_at: NEVER,
      name: s.name,
      profiles: rec.rec.profiles,
      stateful: s.stateful,
      size: -1,
      expires_at: s.expires_at || NEVER,
    };
  }

  async list(name: string): Promise<SnapshotJSON[]> {
    const rec = await this.#load(name);
    const snaps = await this.m.db.read((tx) => listSnapshots(tx, name, this.m.project));
    return snaps.map((s) => this.#json(rec, s));
  }

  async get(name: string, snap: string): Promise<SnapshotJSON> {
    const rec = await this.#load(name);
    return this.#json(rec, await this.m.db.read((tx) => getSnapshot(tx, name, snap, this.m.project)));
  }

  /** The name a snapshot gets when none is given: snap0, snap1… after the highest taken (LXD). */
  async nextName(name: string): Promise<string> {
    const snaps = await this.m.db.read((tx) => listSnapshots(tx, name, this.m.project));
    let next = 0;
    for (const s of snaps) {
      const m = /^snap(\d+)$/.exec(s.name);
      if (m) next = Math.max(next, Number(m[1]) + 1);
    }
    return `snap${next}`;
  }

  /** Takes a snapshot (the caller checked the name); files first, so a failed copy leaves no record. */
  async create(name: string, snap: string, stateful: boolean, expiresAt: string): Promise<void> {
    if (stateful) {
      throw badRequest(
        "Unable to create a stateful snapshot: shoal does not checkpoint running containers (CRIU)",
      );
    }
    await this.m.locked(name, async () => {
      await this.m.db.read((tx) => {
        try {
          getSnapshot(tx, name, snap, this.m.project);
        } catch {
          return;
        }
        throw conflict(`Snapshot "${name}/${snap}" already exists`);
      });
      const pool = await this.#pool(name);
      await pool.createSnapshot(this.m.key(name), snap);
      try {
        await this.m.db.run(createSnapshotRecord, {
          project: this.m.project,
          instance: name,
          name: snap,
          stateful,
          expiresAt,
        });
      } catch (e) {
        await pool.deleteSnapshot(this.m.key(name), snap).catch(() => {});
        throw e;
      }
    });
  }

  async delete(name: string, snap: string): Promise<void> {
    await this.m.locked(name, async () => {
      await this.m.db.read((tx) => getSnapshot(tx, name, snap, this.m.project));
      const pool = await this.#pool(name);
      await this.m.db.run(deleteSnapshotRecord, { project: this.m.project, instance: name, name: snap });
      await pool.deleteSnapshot(this.m.key(name), snap);
    });
  }

  async rename(name: string, from: string, to: string): Promise<void> {
    await this.m.locked(name, async () => {
      const pool = await this.#pool(name);
      await this.m.db.run(renameSnapshotRecord, { project: this.m.project, instance: name, from, to });
      await pool.renameSnapshot(this.m.key(name), from, to);
    });
  }

  async update(name: string, snap: string, u: { description: string; expiresAt: string }): Promise<void> {
    await this.m.db.run(updateSnapshotRecord, { project: this.m.project, instance: name, name: snap, ...u });
  }

  /**
   * Puts the instance back as the snapshot has it: its root volume, config (volatile keys kept)
   * and devices. A running instance is stopped first and started again after, as LXD does.
   */
  async restore(name: string, snap: string): Promise<void> {
    const { rec } = await this.#load(name);
    const s = await this.m.db.read((tx) => getSnapshot(tx, name, snap, this.m.project));
    const st = await this.m.lxcState(name);
    const running = st.state === "RUNNING" || st.state === "FROZEN";
    if (running && rec.ephemeral) {
      throw badRequest("Cannot restore a running ephemeral instance: stopping it would delete it");
    }
    if (running) await this.m.stop(name, { force: true });
    await this.m.locked(name, async () => {
      const pool = await this.#pool(name);
      await pool.restoreSnapshot(this.m.key(name), snap);
      const cur = (await this.#load(name)).rec;
      await this.m.db.run(updateInstance, {
        project: this.m.project,
        name,
        description: cur.description,
        ephemeral: cur.ephemeral,
        profiles: cur.profiles,
        config: sortKeys(keepVolatile(cur.config, s.config)),
        devices: s.devices,
      });
    });
    if (running) await this.m.start(name);
  }
}
