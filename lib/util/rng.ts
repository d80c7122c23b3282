/**
 * The project's seeded PRNGs, so that a seed replays bit for bit on any machine: `Rng` (sfc32
 * seeded through splitmix32) for the simulator, which draws everything from it (no Math.random
 * in a run), and `seededRng` for the Raft core's election timeouts.
 * @module
 */

/** sfc32 seeded through splitmix32: four words of state, for long seeded runs. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** Any integer seed up to 2^53; the high and low halves both count. */
  constructor(seed: number) {
    let s = (seed >>> 0) ^ Math.floor(seed / 4294967296) * 0x9e3779b9;
    const mix = () => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = mix();
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }
}

/**
 * A seeded generator as the function lib/raft's `Config.rng` takes: mulberry32, one word of
 * state, for the core's election timeouts (the driver's, and the tests', whose golden
 * interaction files follow its sequence).
 */
export function seededRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
