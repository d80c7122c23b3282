/**
 * The nemesis: one fault at a time from a seeded schedule, each held a few seconds and then
 * healed, with a short calm between. The schedule (which kind, which member, how long) comes
 * from the seed alone; what the members do in between is real, so a replay is as close as
 * real processes allow.
 */
import type { Rng } from "../../lib/util/rng.ts";
import type { JepsenCluster, Slot } from "./cluster.ts";
import type { FaultRecord } from "./history.ts";

export const NEMESES = ["kill", "restart", "pause", "partition", "disk", "clock", "membership"] as const;
export type NemesisKind = typeof NEMESES[number];

/** The kinds `--nemesis` names: one kind, a comma list, or all. */
export function parseNemesis(spec: string): NemesisKind[] {
  if (spec === "all") return [...NEMESES];
  const kinds = spec.split(",").map((s) => s.trim());
  for (const k of kinds) {
    if (!(NEMESES as readonly string[]).includes(k)) {
      throw new RangeError(`Unknown nemesis "${k}": use all or ${NEMESES.join(", ")}`);
    }
  }
  return kinds as NemesisKind[];
}

/** What the nemesis needs from the run. */
export interface NemesisContext {
  cluster: JepsenCluster;
  rng: Rng;
  now(): number;
  stopped(): boolean;
  record(f: FaultRecord): void;
  log(line: string): void;
  /** Records a note in the history (the checker counts some as anomalies). */
  note(text: string): void;
  /** A member was restarted, removed or added: clients must reconnect. */
  membersChanged(): void;
}

/** How long a graceful stop may take before the nemesis kills the member and notes it. */
const GRACEFUL_STOP_MS = 15_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function names(slots: Slot[]): string {
  return slots.map((s) => s.member?.name ?? `s${s.index}`).join(" ");
}

/**
 * How long each fault is held and the calm after it (ms: least, plus up to spread). `normal` holds
 * faults past an election timeout and a heartbeat threshold's worth of retries; `fast` holds them
 * about one election timeout, for long runs that need many faults (1,000 in 30 minutes).
 */
export const PACES = {
  normal: { hold: 1_200, holdSpread: 2_300, calm: 200, calmSpread: 600 },
  fast: { hold: 400, holdSpread: 900, calm: 100, calmSpread: 200 },
} as const;
export type Pace = keyof typeof PACES;

/** Runs the schedule until the run stops; every fault it starts is healed before it returns. */
export async function runNemesis(
  ctx: NemesisContext,
  kinds: NemesisKind[],
  pace: Pace = "normal",
): Promise<void> {
  const p = PACES[pace];
  await sleep(2_000 + ctx.rng.int(1_000));
  while (!ctx.stopped()) {
    const kind = ctx.rng.pick(kinds);
    const hold = p.hold + ctx.rng.int(p.holdSpread);
    try {
      await FAULTS[kind](ctx, hold);
    } catch (e) {
      ctx.log(`nemesis ${kind}: ${e instanceof Error ? e.message : e}`);
      await ctx.cluster.healAll().catch(() => {});
      ctx.membersChanged();
    }
    await sleep(p.calm + ctx.rng.int(p.calmSpread));
  }
}

/** The member a fault aims at: the leader half the time (the worst case), any member otherwise. */
async function victim(ctx: NemesisContext): Promise<{ slot: Slot; leader: boolean } | undefined> {
  const live = ctx.cluster.occupied.filter((s) => !s.down && !s.paused);
  if (live.length === 0) return undefined;
  if (ctx.rng.chance(0.5)) {
    const l = await ctx.cluster.leader();
    if (l) return { slot: l, leader: true };
  }
  return { slot: ctx.rng.pick(live), leader: false };
}

async function held(
  ctx: NemesisContext,
  kind: string,
  detail: string,
  hold: number,
  undo: () => Promise<void> | void,
): Promise<void> {
  const start = ctx.now();
  ctx.log(`${kind}: ${detail}`);
  try {
    await sleep(hold);
  } finally {
    await undo();
    ctx.record({ type: "fault", kind, detail, start, end: ctx.now() });
  }
}

const FAULTS: Record<NemesisKind, (ctx: NemesisContext, hold: number) => Promise<void>> = {
  async kill(ctx, hold) {
    const v = await victim(ctx);
    if (!v) return;
    await ctx.cluster.kill(v.slot);
    ctx.membersChanged();
    await held(
      ctx,
      "kill",
      `kill -9 ${v.slot.member!.name}${v.leader ? " (leader)" : ""}`,
      hold,
      async () => {
        await ctx.cluster.restart(v.slot);
        ctx.membersChanged();
      },
    );
  },

  async restart(ctx, hold) {
    const v = await victim(ctx);
    if (!v) return;
    const name = v.slot.member!.name;
    // A graceful stop must end by itself while the load runs (issue 20: writes in flight once
    // made it hang): one that has to be killed is an anomaly.
    if (!(await ctx.cluster.stopGracefully(v.slot, GRACEFUL_STOP_MS))) {
      ctx.note(`graceful stop of ${name} did not end by itself within ${GRACEFUL_STOP_MS / 1000} s: killed`);
    }
    ctx.membersChanged();
    await held(
      ctx,
      "restart",
      `SIGTERM ${name}${v.leader ? " (leader)" : ""}, then start`,
      hold,
      async () => {
        await ctx.cluster.restart(v.slot);
        ctx.membersChanged();
      },
    );
  },

  async pause(ctx, hold) {
    const v = await victim(ctx);
    if (!v) return;
    ctx.cluster.pause(v.slot);
    await held(ctx, "pause", `SIGSTOP ${v.slot.member!.name}${v.leader ? " (leader)" : ""}`, hold, () => {
      ctx.cluster.resume(v.slot);
    });
  },

  async partition(ctx, hold) {
    const all = ctx.cluster.occupied;
    if (all.length < 2) return;
    const order = [...all].sort(() => ctx.rng.next() - 0.5);
    const pairs: [Slot, Slot][] = [];
    const shape = ctx.rng.pick(["halves", "isolate-leader", "bridge", "one-way"] as const);
    let detail: string;
    if (shape === "bridge" && all.length >= 3) {
      // Two sides that cannot talk, and one member that sees both.
      const bridge = order[0]!;
      const rest = order.slice(1);
      const a = rest.slice(0, Math.ceil(rest.length / 2));
      const b = rest.slice(Math.ceil(rest.length / 2));
      for (const x of a) for (const y of b) pairs.push([x, y], [y, x]);
      detail = `bridge ${names(a)} | ${names(b)} through ${names([bridge])}`;
    } else if (shape === "one-way") {
      // One member's packets to everyone else vanish; theirs to it arrive.
      const x = order[0]!;
      for (const y of order.slice(1)) pairs.push([x, y]);
      detail = `one-way ${names([x])} -> ${names(order.slice(1))} dropped`;
    } else {
      let minority: Slot[];
      if (shape === "isolate-leader") {
        const l = await ctx.cluster.leader();
        minority = [l ?? order[0]!];
      } else {
        minority = order.slice(0, Math.floor(all.length / 2));
      }
      const majority = all.filter((s) => !minority.includes(s));
      for (const x of minority) for (const y of majority) pairs.push([x, y], [y, x]);
      detail = `${shape === "isolate-leader" ? "isolate leader " : "minority "}${names(minority)} | ${
        names(majority)
      }`;
    }
    await ctx.cluster.drop(pairs);
    await held(ctx, "partition", detail, hold, () => ctx.cluster.heal());
  },

  async disk(ctx, hold) {
    const v = await victim(ctx);
    if (!v) return;
    if (ctx.rng.chance(0.5)) {
      await ctx.cluster.fillDisk(v.slot);
      await held(
        ctx,
        "disk",
        `disk full on ${v.slot.member!.name}${v.leader ? " (leader)" : ""}`,
        hold,
        async () => {
          await ctx.cluster.freeDisk(v.slot);
        },
      );
    } else {
      const ms = ctx.rng.pick([20, 50, 100, 250]);
      await ctx.cluster.setFsyncDelay(v.slot, ms);
      await held(
        ctx,
        "disk",
        `fsync +${ms} ms on ${v.slot.member!.name}${v.leader ? " (leader)" : ""}`,
        hold,
        () => ctx.cluster.setFsyncDelay(v.slot, 0),
      );
    }
  },

  async clock(ctx, hold) {
    const v = await victim(ctx);
    if (!v) return;
    const sign = ctx.rng.chance(0.5) ? 1 : -1;
    const ms = sign * ctx.rng.pick([500, 2_000, 10_000, 60_000, 300_000]);
    await ctx.cluster.setClock(v.slot, ms);
    await held(
      ctx,
      "clock",
      `clock ${ms > 0 ? "+" : ""}${ms / 1000} s on ${v.slot.member!.name}`,
      hold,
      () => ctx.cluster.setClock(v.slot, 0),
    );
  },

  async membership(ctx, hold) {
    const c = ctx.cluster;
    const free = c.slots.find((s) => s.member === null);
    const live = c.occupied.filter((s) => !s.down && !s.paused);
    if (!free || live.length < 2) return;
    const start = ctx.now();
    const leader = await c.leader();
    if (ctx.rng.chance(0.3) && leader) {
      // Restart the leader while a new member joins.
      const name = `join into s${free.index} with the leader ${leader.member!.name} killed during it`;
      ctx.log(`membership: ${name}`);
      const joining = c.join(free, live.find((s) => s !== leader) ?? leader);
      await sleep(ctx.rng.int(1_500));
      await c.kill(leader);
      ctx.membersChanged();
      await sleep(Math.min(hold, 2_000));
      await c.restart(leader);
      ctx.membersChanged();
      const joined = await joining.then(() => true, (e) => {
        ctx.log(`membership: join failed (${e instanceof Error ? e.message.split("\n")[0] : e})`);
        return false;
      });
      ctx.record({
        type: "fault",
        kind: "membership",
        detail: `${name}: ${joined ? "joined" : "failed"}`,
        start,
        end: ctx.now(),
      });
    } else {
      const fresh = live.find((s) => s !== leader) ?? live[0]!;
      ctx.log(`membership: join into s${free.index} through ${fresh.member!.name}`);
      await c.join(free, fresh);
      ctx.membersChanged();
      ctx.record({
        type: "fault",
        kind: "membership",
        detail: `added ${free.member!.name}`,
        start,
        end: ctx.now(),
      });
    }
    if (ctx.stopped()) return;
    // Back to the run's size: remove a member other than the leader, through the leader or not.
    const now = c.occupied.filter((s) => !s.down && !s.paused);
    if (now.length <= ctx.cluster.o.members) return;
    const start2 = ctx.now();
    const l2 = await c.leader();
    const out = ctx.rng.pick(now.filter((s) => s !== l2));
    const via = ctx.rng.pick(now.filter((s) => s !== out));
    const detail = `removed ${out.member!.name} through ${via.member!.name}`;
    ctx.log(`membership: ${detail}`);
    await c.remove(out, via);
    ctx.membersChanged();
    ctx.record({ type: "fault", kind: "membership", detail, start: start2, end: ctx.now() });
  },
};
