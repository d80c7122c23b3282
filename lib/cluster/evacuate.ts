/**
 * Evacuation and restore of a member (LXD's POST /1.0/cluster/members/NAME/state), run on the
 * member itself (the route forwards it there, as LXD does): the member leaves its database role
 * and leadership, its instances stop or move to the least loaded other member, and restore
 * brings back what left and starts what was stopped. The decisions are evacuate_plan.ts's.
 */
import {
  defineTx,
  type Devices,
  instanceCountsByNode,
  type InstanceRecord,
  listInstances,
  listNodes,
  NODE_STATE,
  setInstanceKeys,
} from "../db/mod.ts";
import type { InstanceManager } from "../instances/mod.ts";
import { roleOf } from "../raft/mod.ts";
import { badRequest, errorMessage, forEachLimited, notFound } from "../util/mod.ts";
import type { Forwarding } from "./forwarding.ts";
import type { Heartbeats } from "./heartbeat.ts";
import { MEMBER_CALLS } from "./member_calls.ts";
import { routeRows } from "./route_rows.ts";
import type { Rebalancer } from "./rebalance.ts";
import type { Self } from "./self.ts";
import {
  type EvacuateMode,
  evacuationTarget,
  type InstanceAction,
  instanceAction,
  type QuorumMember,
  quorumProblem,
} from "./evacuate_plan.ts";

/** The key that remembers where an evacuated instance came from (LXD's). */
export const ORIGIN_KEY = "volatile.evacuate.origin";

/** How long a clean stop may take before a forced one (LXD's boot.host_shutdown_timeout default). */
const SHUTDOWN_DEFAULT_S = 30;

/**
 * Instances handled at once. LXD takes them one by one, each waiting for its clean stop, move
 * and start; four at a time cut the evacuation of ten containers by more than half here.
 */
const AT_ONCE = 4;

/**
 * Sets a member's state (created or evacuated) with LXD's refusals: a pending member cannot be
 * evacuated or restored, and a member already in the state asked for says so.
 */
export const setMemberState = defineTx(
  "cluster.member-state",
  (tx, a: { name: string; state: number }): void => {
    const n = tx.get<{ id: number; state: number }>("SELECT id, state FROM nodes WHERE name = ?", a.name);
    if (!n) throw notFound("Cluster member not found");
    if (n.state === NODE_STATE.pending) {
      throw badRequest("Cannot evacuate or restore a pending cluster member");
    }
    if (n.state === a.state) {
      throw badRequest(
        a.state === NODE_STATE.evacuated
          ? "Cluster member is already evacuated"
          : "Cluster member is already restored",
      );
    }
    tx.exec("UPDATE nodes SET state = ? WHERE id = ?", a.state, n.id);
  },
);

/** What an evacuation reports as it goes (the operation's evacuation_progress). */
export type Progress = (text: string) => void;

/** One member's move of an instance to another member, through the API (POST /1.0/instances/NAME). */
export type MoveInstance = (project: string, name: string, target: string) => Promise<void>;

/** What the evacuation needs besides the cluster parts. */
export interface EvacuationOptions {
  instances: InstanceManager;
  /** Moves a stopped instance to a member (absent until moves between members exist). */
  move?: MoveInstance;
}

/** Evacuations and restores of this member; at most one at a time. */
export class Evacuations {
  #self: Self;
  #forwarding: Forwarding;
  #heartbeats: Heartbeats;
  #rebalancer: Rebalancer;
  #o: EvacuationOptions;
  /** The evacuation or restore running on this member, if any. */
  running: "evacuate" | "restore" | null = null;

  constructor(
    self: Self,
    parts: { forwarding: Forwarding; heartbeats: Heartbeats; rebalancer: Rebalancer },
    o: EvacuationOptions,
  ) {
    this.#self = self;
    this.#forwarding = parts.forwarding;
    this.#heartbeats = parts.heartbeats;
    this.#rebalancer = parts.rebalancer;
    this.#o = o;
  }

  /** Whether this member is evacuated, from its own copy (asked on every instance start). */
  evacuated(): boolean {
    const self = this.#self;
    if (!self.clustered()) return false;
    const me = self.name();
    return self.stale(listNodes, []).some((n) => n.name === me && n.state === NODE_STATE.evacuated);
  }

  /** The members as the quorum check reads them. */
  quorumView(): QuorumMember[] {
    const g = this.#self.gateway;
    const conf = g.conf();
    return this.#self.stale(listNodes, []).map((n) => ({
      name: n.name,
      role: roleOf(conf, n.id) ?? null,
      online: n.name === this.#self.name() || this.#heartbeats.isOnline(n.address),
      evacuated: n.state === NODE_STATE.evacuated,
    }));
  }

  /**
   * The checks made before the operation starts (a 400 each): nothing else running here, the
   * member in the right state, and (unless forced) a quorum left without its vote.
   */
  async check(action: "evacuate" | "restore", force: boolean): Promise<void> {
    const name = this.#self.name();
    if (this.running === "evacuate") {
      throw badRequest(
        action === "restore"
          ? `Cannot restore "${name}" while an evacuate operation is in progress`
          : `Cannot evacuate "${name}" while another cluster member evacuation is in progress`,
      );
    }
    if (this.running === "restore") {
      throw badRequest(`Cannot ${action} "${name}" while a restore operation is in progress`);
    }
    const nodes = await this.#self.db.read(listNodes);
    const me = nodes.find((n) => n.name === name);
    if (!me) throw notFound("Cluster member not found");
    if (me.state === NODE_STATE.pending) {
      throw badRequest("Cannot evacuate or restore a pending cluster member");
    }
    if (action === "evacuate" && me.state === NODE_STATE.evacuated) {
      throw badRequest("Cluster member is already evacuated");
    }
    if (action === "restore" && me.state !== NODE_STATE.evacuated) {
      throw badRequest("Cluster member is already restored");
    }
    if (action === "evacuate" && !force) {
      const problem = quorumProblem(this.quorumView(), name);
      if (problem) throw badRequest(`${problem} (--force evacuates anyway)`);
    }
  }

  /** Runs body as this member's one evacuation or restore. */
  async #exclusive(action: "evacuate" | "restore", body: () => Promise<void>): Promise<void> {
    if (this.running) throw badRequest(`Cannot ${action} while an ${this.running} operation is in progress`);
    this.running = action;
    try {
      await body();
    } finally {
      this.running = null;
    }
  }

  /** Asks the leader to rebalance roles now (the evacuated member's vote goes at once). */
  async #rebalance(): Promise<void> {
    await this.#forwarding.leaderRequest(MEMBER_CALLS.rebalance, {}, () => this.#rebalancer.run());
  }

  /** Waits until this member holds no database role (a voter or stand-by no more). */
  async #roleGone(timeoutMs: number): Promise<boolean> {
    const g = this.#self.gateway;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const role = roleOf(g.conf(), g.raftId);
      if ((role === "spare" || role === undefined) && !g.isLeader()) return true;
      await this.#rebalance().catch(() => {});
      await new Promise((r) => setTimeout(r, 250));
    }
    return false;
  }

  /** The evacuation itself (the operation's body). */
  evacuate(mode: EvacuateMode, force: boolean, progress: Progress): Promise<void> {
    return this.#exclusive("evacuate", async () => {
      const self = this.#self;
      const name = self.name();
      const g = self.gateway;
      // Leadership first: the rebalance that takes the vote away runs on the leader, which
      // never demotes itself.
      if (g.isLeader()) {
        const ok = await g.transferLeadership(5_000);
        if (!ok && !force) {
          throw new Error(
            "Failed transferring leadership before evacuation: no other voter took it (--force evacuates anyway)",
          );
        }
      }
      await self.db.run(setMemberState, { name, state: NODE_STATE.evacuated });
      // From here the member stays evacuated whatever fails (LXD's rule: role changes may have
      // committed); restore undoes it.
      const committed = (e: unknown) => new Error(`${errorMessage(e)} (cluster member remains evacuated)`);
      if (!(await this.#roleGone(15_000)) && !force) {
        throw committed(new Error("The database role did not leave this member within 15s"));
      }
      const mine = await self.db.read((tx) => listInstances(tx, name, null));
      // Targets are chosen first, one after the other, each counting the ones before it: at
      // once, every instance would find the same least loaded member.
      // The role is gone: this member is a spare now, with no copy to read. It waits for the
      // leader's answers (#target and the loop below read them), or it would find no member
      // to move to and leave its instances stopped.
      const counts = await self.warm(instanceCountsByNode, new Map<number, number>());
      await self.warm(listNodes, []);
      await self.warm(routeRows, []); // a move resolves its target by them
      const plans: { rec: InstanceRecord; action: InstanceAction; target: string | null }[] = [];
      for (const rec of mine) {
        const inst = await this.#o.instances.in(rec.project).get(rec.name);
        const action = instanceAction(
          { config: inst.expanded_config, devices: inst.expanded_devices as Devices },
          mode,
        );
        const target = action === "migrate" ? this.#target(rec, counts) : null;
        const id = self.stale(listNodes, []).find((n) => n.name === target)?.id;
        if (id !== undefined) counts.set(id, (counts.get(id) ?? 0) + 1);
        plans.push({ rec, action, target });
      }
      try {
        await forEachLimited(plans, AT_ONCE, (p) => this.#evacuateOne(p.rec, p.action, p.target, progress));
      } catch (e) {
        throw committed(e);
      }
      self.events.lifecycle("cluster-member-evacuated", `/1.0/cluster/members/${encodeURIComponent(name)}`);
    });
  }

  async #evacuateOne(
    rec: InstanceRecord,
    action: InstanceAction,
    target: string | null,
    progress: Progress,
  ): Promise<void> {
    const self = this.#self;
    const pm = this.#o.instances.in(rec.project);
    const inst = await pm.get(rec.name);
    const st = await pm.lxcState(rec.name);
    const running = st.state !== "STOPPED";
    if (running) {
      progress(`Stopping "${rec.name}" in project "${rec.project}"`);
      const t = Number(inst.expanded_config["boot.host_shutdown_timeout"] ?? SHUTDOWN_DEFAULT_S);
      try {
        await pm.stop(rec.name, { timeout: Number.isFinite(t) ? t : SHUTDOWN_DEFAULT_S });
      } catch (e) {
        self.log.warn("Failed shutting down instance, forcing stop", {
          instance: rec.name,
          err: errorMessage(e),
        });
        if ((await pm.lxcState(rec.name)).state !== "STOPPED") await pm.stop(rec.name, { force: true });
      }
      // Stopped by the evacuation, not by its user: restore (or the move's target) starts it.
      await self.db.run(setInstanceKeys, {
        project: rec.project,
        name: rec.name,
        keys: { "volatile.last_state.power": "RUNNING" },
      });
    }
    if (action === "stop") return;
    const move = this.#o.move;
    if (!move) {
      self.log.warn("Instance stopped, not migrated: moves between members are not available", {
        instance: rec.name,
      });
      return;
    }
    if (target === null) {
      self.log.warn("No migration target available for instance", { instance: rec.name });
      return;
    }
    progress(`Migrating "${rec.name}" in project "${rec.project}" to "${target}"`);
    // Where it came from, unless another evacuation moved it first (then that one's origin holds).
    if (!rec.config[ORIGIN_KEY]) {
      await self.db.run(setInstanceKeys, {
        project: rec.project,
        name: rec.name,
        keys: { [ORIGIN_KEY]: self.name() },
      });
    }
    await move(rec.project, rec.name, target);
    if (!running) return;
    progress(`Starting "${rec.name}" in project "${rec.project}"`);
    await this.#onMember(target, "PUT", rec, "/state", { action: "start" });
  }

  /** The least loaded other member that may take the instance (its cluster group, if placed by one). */
  #target(rec: InstanceRecord, counts: Map<number, number>): string | null {
    const self = this.#self;
    const nodes = self.stale(listNodes, []);
    const group = rec.config["volatile.cluster.group"] ?? null;
    return evacuationTarget(
      nodes.map((n) => ({
        name: n.name,
        online: this.#heartbeats.isOnline(n.address),
        evacuated: n.state === NODE_STATE.evacuated,
        instances: counts.get(n.id) ?? 0,
        groups: n.groups.length > 0 ? n.groups : ["default"],
      })),
      self.name(),
      group,
    );
  }

  /** A request about an instance to the member that holds it, as this member; waits for its operation. */
  async #onMember(
    member: string,
    method: string,
    rec: { name: string; project: string },
    suffix: string,
    body: unknown,
  ): Promise<void> {
    const self = this.#self;
    const node = (await self.warm(listNodes, [])).find((n) => n.name === member);
    if (!node) throw notFound(`Cluster member "${member}" not found`);
    const path = `/1.0/instances/${encodeURIComponent(rec.name)}${suffix}?project=${
      encodeURIComponent(rec.project)
    }`;
    await self.clients.get(node.address).runOperation(method, path, { body });
  }

  /** The restore itself (the operation's body). */
  restore(skip: boolean, progress: Progress): Promise<void> {
    return this.#exclusive("restore", async () => {
      const self = this.#self;
      const name = self.name();
      await self.db.run(setMemberState, { name, state: NODE_STATE.created });
      // Its database role comes back as the leader sees fit.
      void this.#rebalance().catch(() => {});
      if (!skip) {
        const all = await self.db.read((tx) => listInstances(tx, undefined, null));
        const here = all.filter((r) =>
          r.location === name && r.config["volatile.last_state.power"] === "RUNNING"
        );
        await forEachLimited(here, AT_ONCE, async (rec) => {
          const pm = this.#o.instances.in(rec.project);
          if ((await pm.lxcState(rec.name)).state !== "STOPPED") return;
          progress(`Starting "${rec.name}" in project "${rec.project}"`);
          await pm.start(rec.name);
        });
        const away = all.filter((r) => r.location !== name && r.config[ORIGIN_KEY] === name);
        await forEachLimited(away, AT_ONCE, (rec) => this.#bringBack(rec, progress));
      }
      self.events.lifecycle("cluster-member-restored", `/1.0/cluster/members/${encodeURIComponent(name)}`);
    });
  }

  /** Moves an evacuated instance back here, stopped first and started again if it ran. */
  async #bringBack(rec: InstanceRecord, progress: Progress): Promise<void> {
    const self = this.#self;
    const move = this.#o.move;
    if (!move) return;
    progress(`Migrating "${rec.name}" in project "${rec.project}" from "${rec.location}"`);
    const node = (await self.warm(listNodes, [])).find((n) => n.name === rec.location);
    if (!node) throw notFound(`Cluster member "${rec.location}" not found`);
    const client = self.clients.get(node.address);
    const q = `?project=${encodeURIComponent(rec.project)}`;
    const st = await client.get<{ status: string }>(
      `/1.0/instances/${encodeURIComponent(rec.name)}/state${q}`,
    );
    const running = st.status !== "Stopped";
    if (running) {
      progress(`Stopping "${rec.name}" in project "${rec.project}"`);
      const t = Number(rec.config["boot.host_shutdown_timeout"] ?? SHUTDOWN_DEFAULT_S);
      try {
        await this.#onMember(rec.location, "PUT", rec, "/state", { action: "stop", timeout: t });
      } catch {
        await this.#onMember(rec.location, "PUT", rec, "/state", { action: "stop", force: true });
      }
    }
    await move(rec.project, rec.name, self.name());
    await self.db.run(setInstanceKeys, { project: rec.project, name: rec.name, keys: { [ORIGIN_KEY]: "" } });
    if (!running) return;
    progress(`Starting "${rec.name}" in project "${rec.project}"`);
    await this.#o.instances.in(rec.project).start(rec.name);
  }
}
