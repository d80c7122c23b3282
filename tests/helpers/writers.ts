/**
 * Writers under faults, for the exactly-once tests and the write-gap bench: each writer INSERTs
 * unique values through a member's unix socket (POST /internal/sql, the path of `shoald sql
 * global`, forwarded to the leader like every write) and records the ones acknowledged and when.
 * Every write has an HTTP client of its own: Deno's clients send a POST again on a new
 * connection when a kept-alive one breaks after delivery (lib/transport/calls_test.ts), which
 * would make the client, not shoal, write twice.
 */
import type { Member } from "./member.ts";

/** POSTs one global SQL statement through a member's socket; true when answered 200. */
export async function sqlWrite(socket: string, query: string, timeoutMs = 15_000): Promise<boolean> {
  let client: Deno.HttpClient | null = null;
  try {
    client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
    const res = await fetch("http://shoal/internal/sql", {
      method: "POST",
      client,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ database: "global", query }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  } finally {
    client?.close();
  }
}

/** Runs a global SQL query through m's socket and returns the rows of its first result. */
export async function sqlRows(m: Member, query: string): Promise<unknown[][]> {
  const c = m.client();
  try {
    const r = await c.request<{ results: { rows: unknown[][] }[] }>("POST", "/internal/sql", {
      body: { database: "global", query },
    });
    return r.metadata.results[0]?.rows ?? [];
  } finally {
    c.close();
  }
}

/** Writers of unique values into `table` (one TEXT column v) through the members `targets()` names. */
export class Writers {
  readonly acked = new Set<string>();
  /** performance.now() of every acknowledgement, in order. */
  readonly ackTimes: number[] = [];
  /** performance.now() of each writer's last acknowledgement. */
  readonly lastAck = new Map<number, number>();
  #running = false;
  #loops: Promise<void>[] = [];

  /** `prefix` tells apart the values of writers that share a table. */
  constructor(
    readonly table: string,
    readonly targets: () => Member[],
    readonly count = 8,
    readonly prefix = "",
  ) {}

  start(): void {
    this.#running = true;
    for (let w = 1; w <= this.count; w++) this.#loops.push(this.#loop(w));
  }

  async #loop(w: number): Promise<void> {
    for (let i = 1; this.#running; i++) {
      const ms = this.targets();
      const m = ms[(w + i) % ms.length];
      if (!m || !m.process) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      const v = `${this.prefix}w${w}-${i}`;
      if (await sqlWrite(m.socket, `INSERT INTO ${this.table} (v) VALUES ('${v}')`)) {
        this.acked.add(v);
        this.ackTimes.push(performance.now());
        this.lastAck.set(w, performance.now());
      } else await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
    this.#loops = [];
  }

  /** How many writers had a write acknowledged after time t: a writer stuck on a call has none. */
  writersAckedSince(t: number): number {
    let n = 0;
    for (const at of this.lastAck.values()) if (at > t) n++;
    return n;
  }

  /** Acknowledgements after time t (performance.now()). */
  ackedSince(t: number): number {
    let n = 0;
    for (let i = this.ackTimes.length - 1; i >= 0 && this.ackTimes[i]! > t; i--) n++;
    return n;
  }

  /**
   * The longest time without any acknowledged write from just before t0 (a fault) on, in ms:
   * acknowledgements come every few milliseconds outside a fault.
   */
  gapAfter(t0: number, windowMs = 30_000): number {
    const times = this.ackTimes.filter((t) => t >= t0 - 1_000 && t <= t0 + windowMs).sort((a, b) => a - b);
    const before = this.ackTimes.filter((t) => t < t0).at(-1) ?? t0;
    let gap = 0;
    let prev = Math.min(before, times[0] ?? before);
    for (const t of times) {
      gap = Math.max(gap, t - prev);
      prev = t;
    }
    return gap;
  }
}

/** Which acknowledged values are missing and which values are there more than once, read on m. */
export async function audit(m: Member, w: Writers): Promise<{ lost: string[]; twice: string[] }> {
  const mine = `v LIKE '${w.prefix}w%'`;
  const twice = (await sqlRows(m, `SELECT v FROM ${w.table} WHERE ${mine} GROUP BY v HAVING COUNT(*) > 1`))
    .map((r) => String(r[0]));
  const present = new Set(
    (await sqlRows(m, `SELECT v FROM ${w.table} WHERE ${mine}`)).map((r) => String(r[0])),
  );
  return { lost: [...w.acked].filter((v) => !present.has(v)), twice };
}
