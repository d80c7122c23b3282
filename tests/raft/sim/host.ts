/**
 * What a simulated member's Driver runs on instead of a process: a clock whose time is the event
 * queue's (its ticks follow the member's clock faults), a logger that turns what the driver
 * would only log into the run's failure, and the Crash a seam throws to cut a Ready short.
 * @module
 */
import type { Clock } from "../../../lib/driver/clock.ts";
import type { Logger } from "../../../lib/log/mod.ts";
import type { Member } from "./member.ts";

/** Thrown at a seam of the Ready loop: the driver stops as on a failed write, the member is lost. */
export class Crash extends Error {
  declare readonly why: string;

  /**
   * A Crash made without running Error's constructor: it costs a few microseconds even with no
   * stack (stackTraceLimit 0 does not help), and a run plants thousands. An Error by prototype
   * is all the driver (`instanceof Error`) and the run (`instanceof Crash`, `why`) look at.
   */
  static of(why: string): Crash {
    const c = Object.create(Crash.prototype) as Crash;
    Object.defineProperties(c, {
      why: { value: why },
      message: { value: `crash ${why}` },
      name: { value: "Crash" },
    });
    return c;
  }
}

/** A pending timer; an interval's period is its member's tick (clock faults change it). */
export interface Timer {
  fn: () => void;
  clock: MemberClock;
  live: boolean;
  interval: boolean;
  /** Its queue event, scheduled again for each tick of an interval. */
  ev?: { k: "timer"; t: Timer };
}

/** What the clock needs of the simulation. */
export interface Host {
  readonly q: { readonly now: number; after(delay: number, ev: { k: "timer"; t: Timer }): void };
  readonly rng: { between(lo: number, hi: number): number };
  /** Queues what a driver defers (Clock.defer), run after the current event. */
  defer(fn: () => void): void;
  coreError(e: unknown): void;
}

const noop = () => {};

export class MemberClock implements Clock {
  /** Set when the member crashes: none of its timers fires again. */
  dead = false;

  constructor(private readonly host: Host, readonly member: Member) {}

  now(): number {
    return this.host.q.now;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const t: Timer = { fn, clock: this, live: true, interval: false };
    this.host.q.after(ms, { k: "timer", t });
    return t;
  }

  /** The first tick comes at a random phase, so that members do not tick in lockstep. */
  setInterval(fn: () => void, ms: number): Timer {
    const t: Timer = { fn, clock: this, live: true, interval: true };
    t.ev = { k: "timer", t };
    this.host.q.after(this.host.rng.between(1, ms), t.ev);
    return t;
  }

  /** The event stays queued (a heap has no removal) but lets go of what the timer would call. */
  clear(t: unknown): void {
    if (!t) return;
    (t as Timer).live = false;
    (t as Timer).fn = noop;
  }

  defer(fn: () => void): void {
    this.host.defer(fn);
  }

  /** Fires a timer at its time: a stalled clock skips its ticks, a live interval comes again. */
  fire(t: Timer): void {
    if (!t.live || this.dead) return;
    if (!t.interval) {
      t.live = false;
      return t.fn();
    }
    const m = this.member;
    if (this.host.q.now >= m.stalledUntil) t.fn();
    if (t.live && !this.dead) this.host.q.after(m.tickMs, t.ev!);
  }
}

/** The driver logs what it survives; in a run, a message the core threw on is a core error. */
export function hostLogger(host: Host): Logger {
  const log: Logger = {
    debug: (message, context) => {
      if (message === "Raft dropped a message") host.coreError(new Error(String(context?.err)));
    },
    info: () => {},
    warn: (message, context) => host.coreError(new Error(`${message}: ${String(context?.err)}`)),
    error: () => {},
    with: () => log,
  };
  return log;
}
