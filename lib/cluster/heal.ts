/**
 * Healing (LXD's cluster.healing_threshold), made safe by fencing (fence.ts): the leader starts
 * elsewhere the instances of a member offline past the threshold, but only a member that said it
 * fences itself in time (its fence time plus FENCE_MARGIN_S within the threshold), and only the
 * instances whose volume is on storage every member sees (a dir pool with one source for all).
 * The member is marked evacuated (as LXD's heal does): back, it starts nothing until restored,
 * and restore brings the healed instances back (volatile.evacuate.origin).
 */
import {
  defineTx,
  FENCE_MARGIN_S,
  globalValue,
  instanceCountsByNode,
  type InstanceRecord,
  listInstances,
  listNodes,
  NODE_STATE,
  readGlobalConfig,
  type ReadTx,
  setInstanceKeys,
} from "../db/mod.ts";
import type { InstanceManager } from "../instances/mod.ts";
import { errorMessage, notFound, type TimerId } from "../util/mod.ts";
import { evacuationTarget } from "./evacuate_plan.ts";
import { ORIGIN_KEY, setMemberState } from "./evacuate.ts";
import type { Fencing } from "./fence.ts";
import type { Heartbeats } from "./heartbeat.ts";
import type { Self } from "./self.ts";

/** PURE: why a lost member may not be healed (yet), or null when it may. */
export function healBlocker(
  o: {
    thresholdS: number;
    silentMs: number;
    online: boolean;
    evacuated: boolean;
    fenceS: number | undefined;
  },
): string | null {
  if (o.thresholdS <= 0) return "healing is off";
  if (o.online || o.silentMs < o.thresholdS * 1000) return "not offline for the healing threshold";
  if (o.evacuated) return "already evacuated";
  if (!o.fenceS) return "it never said it fences itself: its instances may still run";
  if (o.fenceS + FENCE_MARGIN_S > o.thresholdS) {
    return `its fence time (${o.fenceS}s) plus ${FENCE_MARGIN_S}s is beyond the healing threshold`;
  }
  return null;
}

/**
 * The pool an instance's volume is on, if every member sees that pool at one path (a dir pool
 * whose member-specific `source` is the same for all): only such an instance can start elsewhere.
 */
export function sharedPoolOf(tx: ReadTx, rec: { name: string; project: string }): string | null {
  const v = tx.get<{ id: number; name: string; driver: string }>(
    `SELECT storage_pools.id, storage_pools.name, storage_pools.driver FROM storage_volumes
       JOIN storage_pools ON storage_pools.id = storage_volumes.storage_pool_id
       JOIN projects ON projects.id = storage_volumes.project_id
      WHERE storage_volumes.type = 0 AND storage_volumes.name = ? AND projects.name = ?`,
    rec.name,
    rec.project,
  );
  if (!v || v.driver !== "dir") return null;
  const members = tx.get<{ n: number }>("SELECT count(*) AS n FROM nodes")!.n;
  const sources = tx.query<{ value: string }>(
    "SELECT value FROM storage_pools_config WHERE storage_pool_id = ? AND node_id IS NOT NULL AND key = 'source'",
    v.id,
  );
  return sources.length === members && new Set(sources.map((s) => s.value)).size === 1 ? v.name : null;
}

/** The instance (and its volume) now belongs to another member: its files are where they were. */
export const healInstance = defineTx(
  "cluster.heal-instance",
  (tx, a: { name: string; project: string; member: string }): void => {
    const node = tx.get<{ id: number }>("SELECT id FROM nodes WHERE name = ?", a.member);
    if (!node) throw notFound("Cluster member not found");
    const project = tx.get<{ id: number }>("SELECT id FROM projects WHERE name = ?", a.project);
    if (!project) throw notFound("Project not found");
    tx.exec(
      "UPDATE instances SET node_id = ? WHERE name = ? AND project_id = ?",
      node.id,
      a.name,
      project.id,
    );
    tx.exec(
      "UPDATE storage_volumes SET node_id = ? WHERE type = 0 AND name = ? AND project_id = ?",
      node.id,
      a.name,
      project.id,
    );
  },
);

/** The leader's healing loop. */
export class Healer {
  #self: Self;
  #heartbeats: Heartbeats;
  #fencing: Fencing;
  #instances: InstanceManager;
  #timer: TimerId | undefined;
  #busy = false;
  /** What was last said about each member not healed, so that the log says it once. */
  #said = new Map<string, string>();

  constructor(self: Self, heartbeats: Heartbeats, fencing: Fencing, instances: InstanceManager) {
    this.#self = self;
    this.#heartbeats = heartbeats;
    this.#fencing = fencing;
    this.#instances = instances;
  }

  start(): void {
    this.#timer = setInterval(() => void this.#tick(), 1_000);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async #tick(): Promise<void> {
    const self = this.#self;
    if (this.#busy || !self.clustered() || !self.gateway.isLeader()) return;
    const thresholdS = Number(globalValue(self.stale(readGlobalConfig, {}), "cluster.healing_threshold"));
    if (!(thresholdS > 0)) return;
    this.#busy = true;
    try {
      const nodes = self.stale(listNodes, []);
      const all = self.stale((tx) => listInstances(tx, undefined, null), []);
      for (const n of nodes) {
        if (n.address === self.address()) continue;
        const mine = all.filter((r) => r.location === n.name);
        if (mine.length === 0) continue;
        const live = this.#heartbeats.of(n.address, true);
        const why = healBlocker({
          thresholdS,
          silentMs: live.silentMs,
          online: live.online && live.silentMs < thresholdS * 1000,
          evacuated: n.state === NODE_STATE.evacuated,
          fenceS: this.#fencing.armed.get(n.address),
        });
        if (why === null) await this.#heal(n.name, mine);
        else if (why.startsWith("it") && this.#said.get(n.name) !== why) {
          this.#said.set(n.name, why);
          self.log.warn("Not healing an offline member", { member: n.name, reason: why });
        }
      }
    } catch (e) {
      self.log.warn("Healing failed", { err: errorMessage(e) });
    } finally {
      this.#busy = false;
    }
  }

  async #heal(member: string, instances: InstanceRecord[]): Promise<void> {
    const self = this.#self;
    self.log.warn("Healing the instances of an offline member", { member });
    await self.db.run(setMemberState, { name: member, state: NODE_STATE.evacuated });
    const healed: Record<string, string> = {};
    const notHealed: Record<string, string> = {};
    for (const rec of instances) {
      const pool = await self.db.read((tx) => sharedPoolOf(tx, rec));
      if (pool === null) {
        notHealed[rec.name] = "its volume is not on storage every member sees";
        continue;
      }
      const nodes = self.stale(listNodes, []);
      const counts = self.stale(instanceCountsByNode, new Map<number, number>());
      const target = evacuationTarget(
        nodes.map((n) => ({
          name: n.name,
          online: n.address === self.address() || this.#heartbeats.of(n.address, true).online,
          evacuated: n.state === NODE_STATE.evacuated,
          instances: counts.get(n.id) ?? 0,
          groups: n.groups.length > 0 ? n.groups : ["default"],
        })),
        member,
        rec.config["volatile.cluster.group"] ?? null,
      );
      if (target === null) {
        notHealed[rec.name] = "no member may take it";
        continue;
      }
      // Where it came from, as an evacuation remembers it: restore brings it back (a move on
      // shared storage changes rows only).
      if (!rec.config[ORIGIN_KEY]) {
        await self.db.run(setInstanceKeys, {
          project: rec.project,
          name: rec.name,
          keys: { [ORIGIN_KEY]: member },
        });
      }
      await self.db.run(healInstance, { name: rec.name, project: rec.project, member: target });
      healed[rec.name] = target;
      if (rec.config["volatile.last_state.power"] !== "RUNNING") continue;
      // The target may not have applied the move yet (it would forward the start to the lost
      // member): a few tries, half a second apart.
      for (let attempt = 1;; attempt++) {
        try {
          await this.#start(target, rec);
          break;
        } catch (e) {
          if (attempt < 6) {
            await new Promise((r) => setTimeout(r, 500));
            continue;
          }
          self.log.error("A healed instance did not start", {
            instance: rec.name,
            member: target,
            err: errorMessage(e),
          });
          break;
        }
      }
    }
    self.log.warn("Healed the instances of an offline member", { member, healed, not_healed: notHealed });
    self.events.lifecycle("cluster-member-healed", `/1.0/cluster/members/${encodeURIComponent(member)}`, {
      healed,
      not_healed: notHealed,
    });
  }

  async #start(target: string, rec: InstanceRecord): Promise<void> {
    const self = this.#self;
    if (target === self.name()) return await this.#instances.in(rec.project).start(rec.name);
    const node = self.stale(listNodes, []).find((n) => n.name === target);
    if (!node) throw notFound("Cluster member not found");
    await self.clients.get(node.address).runOperation(
      "PUT",
      `/1.0/instances/${encodeURIComponent(rec.name)}/state?project=${encodeURIComponent(rec.project)}`,
      { body: { action: "start" } },
    );
  }
}
