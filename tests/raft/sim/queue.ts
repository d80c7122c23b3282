/**
 * The virtual clock: a priority queue of events by (time, insertion order). Ties break by
 * insertion so that a seed always replays the same order.
 * @module
 */

interface Item<T> {
  time: number;
  seq: number;
  value: T;
}

/** Swaps two slots of the heap, both in range. */
function swap<T>(h: T[], i: number, j: number): void {
  const a = h[i]!;
  h[i] = h[j]!;
  h[j] = a;
}

export class EventQueue<T> {
  private heap: Item<T>[] = [];
  private seq = 0;
  /** The virtual time of the event last taken, in simulated milliseconds. */
  now = 0;

  get size(): number {
    return this.heap.length;
  }

  /** The time of the next event, without taking it (Infinity when none). */
  get nextTime(): number {
    return this.heap.length > 0 ? this.heap[0]!.time : Infinity;
  }

  /** Schedules `value` `delay` ms from now. */
  after(delay: number, value: T): void {
    this.push({ time: this.now + Math.max(0, delay), seq: this.seq++, value });
  }

  /** Drops every event (the run is over). */
  clear(): void {
    this.heap = [];
  }

  /** The next event, advancing the clock to it; undefined when nothing is scheduled. */
  take(): T | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      this.down(0);
    }
    this.now = top!.time;
    return top!.value;
  }

  private less(a: Item<T>, b: Item<T>): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  private push(item: Item<T>): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      swap(h, i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      swap(h, i, m);
      i = m;
    }
  }
}
