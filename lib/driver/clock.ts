/**
 * Time as the driver sees it. The driver never touches the global timers or clock: a daemon
 * gives it `systemClock`, the simulator a virtual clock driven by its event queue, so that the
 * same driver runs under both and a simulated seed replays event for event.
 * @module
 */

/** A pending timer; only the clock that made it can cancel it. */
export type ClockTimer = unknown;

export interface Clock {
  /** Milliseconds, monotonic (only differences mean anything). */
  now(): number;
  /** Calls fn once after ms milliseconds. */
  setTimeout(fn: () => void, ms: number): ClockTimer;
  /** Calls fn every ms milliseconds until cancelled. */
  setInterval(fn: () => void, ms: number): ClockTimer;
  /** Cancels a timer of either kind; cancelling one that already fired does nothing. */
  clear(t: ClockTimer): void;
  /**
   * Runs fn soon, after the caller's synchronous work and before any timer: where the driver
   * coalesces what several calls made ready into one round of processing.
   */
  defer(fn: () => void): void;
}

/** The real clock: the global timers, `performance.now()` and microtasks. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clear: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
  defer: (fn) => queueMicrotask(fn),
};
