/**
 * Self-fencing, what makes healing safe (issue 13 item 4; LXD heals without knowing whether the
 * lost member still runs its instances). While healing is on, every member checks each second
 * that it still reaches a quorum of voters (a read index through the leader). Cut off for longer
 * than cluster.fence_time, it stops every container it runs and refuses to start any until it
 * hears the cluster again. The fence time each member applies rides on the heartbeats, so the
 * leader heals a member only once that member has said it fences within the allowed time.
 */
import { globalValue, instanceNamesOn, listInstances, readGlobalConfig, type ReadTx } from "../db/mod.ts";
import type { InstanceManager } from "../instances/mod.ts";
import { errorMessage, type TimerId } from "../util/mod.ts";
import type { Heartbeat } from "../wire/mod.ts";
import type { Heartbeats } from "./heartbeat.ts";
import type { Self } from "./self.ts";
import type { FenceWatchdog } from "./fence_watchdog.ts";

/** How often the quorum is probed. */
const PROBE_MS = 1_000;

/**
 * The probe: a linearizable read (a read index: the leader hears a quorum of voters) of one
 * query, so that a member without a replica (a spare) must ask the leader for it. A read of no
 * query at all a spare answers without asking anyone (remote_read.ts runs it on no answers):
 * spares never fenced (tests/e2e/spare_fence_test.ts).
 */
const quorumProbe = (tx: ReadTx) => tx.get("SELECT 1 AS reached");

/** PURE: the fence time (seconds) a member applies under this config: 0 while healing is off. */
export function fenceSeconds(config: Record<string, string>): number {
  const healing = Number(globalValue(config, "cluster.healing_threshold"));
  return healing > 0 ? Number(globalValue(config, "cluster.fence_time")) : 0;
}

/** What fencing stopped, to start again if the cluster comes back before healing them elsewhere. */
interface Fenced {
  since: number;
  stopped: { project: string; name: string }[];
}

export class Fencing {
  #self: Self;
  #instances: InstanceManager;
  #timer: TimerId | undefined;
  #lastQuorum = performance.now();
  #probing = false;
  #fenced: Fenced | null = null;
  /** The fence time each member applies, by address, as the leader last heard it. */
  readonly armed = new Map<string, number>();
  /** Told when this member fences itself or comes back (tests and the log). */
  onChange: (fenced: boolean) => void = () => {};
  /** After the cluster is heard again: whether this member may start again what it stopped. */
  mayRestart: () => boolean = () => true;

  #watchdog: FenceWatchdog | null;

  constructor(self: Self, heartbeats: Heartbeats, instances: InstanceManager, watchdog?: FenceWatchdog) {
    this.#self = self;
    this.#instances = instances;
    this.#watchdog = watchdog ?? null;
    heartbeats.extra = {
      heartbeat: () => ({ fences: this.#fencesForHeartbeat() }),
      reply: () => ({ fence: this.seconds() }),
      onReply: (address, reply) => this.armed.set(address, Number(reply.fence ?? 0) || 0),
      onHeartbeat: (hb: Heartbeat) => {
        for (const [a, s] of Object.entries(hb.fences ?? {})) this.armed.set(a, Number(s) || 0);
      },
    } satisfies Heartbeats["extra"];
  }

  /** The fence time this member applies now (0: healing is off, it does not fence). */
  seconds(): number {
    if (!this.#self.clustered()) return 0;
    return fenceSeconds(this.#self.stale(readGlobalConfig, {}));
  }

  #fencesForHeartbeat(): Record<string, number> {
    this.armed.set(this.#self.address(), this.seconds());
    return Object.fromEntries(this.armed);
  }

  /** Why this member may start nothing now, or null. */
  reason(): string | null {
    if (!this.#fenced) return null;
    return `Cluster member is fenced: it has not reached a quorum of database voters for ${
      Math.round((performance.now() - this.#lastQuorum) / 1000)
    }s, and its instances may be healed elsewhere`;
  }

  get fenced(): boolean {
    return this.#fenced !== null;
  }

  start(): void {
    this.#timer = setInterval(() => void this.#tick(), PROBE_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async #tick(): Promise<void> {
    const self = this.#self;
    if (!self.clustered() || this.#probing) return;
    const fence = this.seconds();
    // The loop that fences even if this daemon dies (fence_watchdog.ts) follows the setting.
    this.#watchdog?.set(fence);
    // Healing off: nothing to fence against, and no probe to pay for (silence counts from now on).
    if (fence === 0 && !this.#fenced) {
      this.#lastQuorum = performance.now();
      return;
    }
    this.#probing = true;
    try {
      let reached = false;
      try {
        await Promise.race([
          self.db.read(quorumProbe),
          new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 2_000)),
        ]);
        reached = true;
      } catch { /* no quorum heard */ }
      if (reached) {
        this.#lastQuorum = performance.now();
        this.#watchdog?.touch();
        if (this.#fenced) await this.#unfence();
      } else if (fence > 0 && !this.#fenced && performance.now() - this.#lastQuorum > fence * 1000) {
        await this.#fence();
      }
    } finally {
      this.#probing = false;
    }
  }

  /** Stops every container of this member at once (no clean shutdown: the clock runs). */
  async #fence(): Promise<void> {
    const self = this.#self;
    this.#fenced = { since: Date.now(), stopped: [] };
    self.log.warn("No quorum of database voters within the fence time: stopping every instance here", {
      fence: this.seconds(),
    });
    this.onChange(true);
    // Without quorum there is no leader to ask: a spare (no copy) has these fetched ahead, at
    // each heartbeat (heartbeat.ts); one that never had them says so rather than stop nothing quietly.
    let mine: { project: string; name: string }[];
    try {
      mine = self.db.readStale((tx) => instanceNamesOn(tx, self.name()));
    } catch (e) {
      self.log.error("Fencing does not know this member's instances: none stopped", { err: errorMessage(e) });
      return;
    }
    await Promise.all(mine.map(async (rec) => {
      const pm = this.#instances.in(rec.project);
      const key = pm.key(rec.name);
      try {
        if ((await this.#instances.lxc.state(key)).state === "STOPPED") return;
        await this.#instances.lxc.stop(key, { force: true, timeout: -1 });
        this.#fenced?.stopped.push({ project: rec.project, name: rec.name });
      } catch (e) {
        self.log.error("Fencing could not stop an instance", { instance: rec.name, err: errorMessage(e) });
      }
    }));
  }

  /**
   * The cluster is heard again: starts are allowed, and what fencing stopped starts again if it
   * is still this member's (not healed elsewhere meanwhile) and this member is not evacuated.
   */
  async #unfence(): Promise<void> {
    const self = this.#self;
    const was = this.#fenced!;
    this.#fenced = null;
    self.log.info("Quorum of database voters reached again: fencing lifted");
    this.onChange(false);
    if (!this.mayRestart()) return;
    const mine = await self.db.read((tx) => listInstances(tx, self.name(), null)).catch(() => []);
    for (const s of was.stopped) {
      if (!mine.some((r) => r.project === s.project && r.name === s.name)) continue;
      await this.#instances.in(s.project).start(s.name).catch((e) =>
        self.log.warn("Could not start an instance again after fencing", {
          instance: s.name,
          err: errorMessage(e),
        })
      );
    }
  }
}
