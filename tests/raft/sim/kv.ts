/**
 * The key-value state machine the simulated clients drive, and the encoding of its commands in
 * Raft entries. Every command carries the id of the client operation that proposed it, so that
 * whoever applies an index can tell whose write it is.
 * @module
 */

export type Command =
  | { id: string; op: "put"; key: string; value: string }
  | { id: string; op: "cas"; key: string; expect: string | null; value: string }
  /** Commits nothing but itself; the liveness probe. */
  | { id: string; op: "noop" };

export const encodeCommand = (c: Command): string => JSON.stringify(c);

/** null for an entry that is not a command (a new leader's empty entry). */
export function decodeCommand(data: string): Command | null {
  if (data === "") return null;
  return JSON.parse(data) as Command;
}

export class Kv {
  readonly map = new Map<string, string>();

  get(key: string): string | null {
    return this.map.get(key) ?? null;
  }

  /** Returns whether a cas took effect (true for the others). */
  apply(c: Command): boolean {
    switch (c.op) {
      case "put":
        this.map.set(c.key, c.value);
        return true;
      case "cas":
        if (this.get(c.key) !== c.expect) return false;
        this.map.set(c.key, c.value);
        return true;
      case "noop":
        return true;
    }
  }

  encode(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify([...this.map].sort((a, b) => (a[0] < b[0] ? -1 : 1))));
  }

  static decode(data: Uint8Array): Kv {
    const kv = new Kv();
    if (data.length === 0) return kv;
    for (const [k, v] of JSON.parse(new TextDecoder().decode(data)) as [string, string][]) kv.map.set(k, v);
    return kv;
  }
}
