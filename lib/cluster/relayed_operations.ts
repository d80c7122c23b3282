/**
 * Operations of other members that this member relays to its own listeners (events_relay.ts),
 * followed until they end, so that a client waiting here hears an end when their member dies.
 *
 * A client of this member that runs something on another member's instance (lxc exec, launch
 * --target, a stop through a non-owner) waits for the operation's last event on this member's
 * /1.0/events, relayed from the owner. When the owner dies, that event never comes: the real
 * lxc waited forever. Here, when the owner's event stream breaks, each of its operations still
 * running is asked of it again: one that ended meanwhile gets its real last event; one the
 * member no longer has (it restarted: operations live in memory, as in LXD) or one whose member
 * stays unreachable ends with a Failure event naming the member, and the client exits with it.
 * LXD 5.0.2 leaves such a client waiting.
 */
import type { Event } from "../events/mod.ts";
import { errorMessage, type TimerId, unrefTimer } from "../util/mod.ts";

/** What following operations needs of the member. */
export interface RelayedOperationsOptions {
  /** Hands an event to this member's listeners, as a relayed one. */
  deliver(e: Event): void;
  /**
   * The operation as the member at address has it: its JSON when it answers 200, null when it
   * answers 404; throws when the member cannot be reached; "unknown" for any other answer.
   */
  ask(address: string, id: string, signal: AbortSignal): Promise<Record<string, unknown> | null | "unknown">;
  /** The member's name at address, for the message. */
  nameOf(address: string): string;
  /** Between two rounds of asking (default 1 s). */
  probeMs?: number;
  /** How long one ask may take (default 3 s). */
  askTimeoutMs?: number;
  /** Rounds in a row in which the member could not be reached before its operations fail (default 2). */
  unreachableRounds?: number;
}

/** Status codes of an operation that has ended (LXD: Success, Failure, Cancelled). */
const FINAL = new Set([200, 400, 401]);
/** Operations followed at most (the oldest are forgotten first: a client waits for the recent ones). */
const FOLLOWED_MAX = 4_096;

interface Followed {
  address: string;
  /** Its last event, as relayed. */
  last: Event;
}

export class RelayedOperations {
  #o: RelayedOperationsOptions;
  #ops = new Map<string, Followed>();
  /** Members whose event stream is down now. */
  #down = new Set<string>();
  /** Members being asked about their operations. */
  #asking = new Set<string>();
  #timers = new Set<TimerId>();
  #stopped = false;
  /** Who waits to hear that an operation was ended here (a forwarded wait, operations_mesh.ts). */
  #failWatch = new Map<string, Set<(why: string) => void>>();

  constructor(o: RelayedOperationsOptions) {
    this.#o = o;
  }

  /** An event relayed from the member at address: its operations are followed until they end. */
  seen(address: string, e: Event): void {
    if (e.type !== "operation") return;
    const m = e.metadata as { id?: unknown; status_code?: unknown } | null;
    if (typeof m?.id !== "string") return;
    if (FINAL.has(m.status_code as number)) return void this.#ops.delete(m.id);
    this.#ops.delete(m.id); // re-inserted last: the map stays in order of last news
    this.#ops.set(m.id, { address, last: e });
    if (this.#ops.size > FOLLOWED_MAX) this.#ops.delete(this.#ops.keys().next().value!);
  }

  /** The member's event stream broke: what it runs is asked of it until each operation is settled. */
  down(address: string): void {
    this.#down.add(address);
    void this.#ask(address);
  }

  /** The member's event stream is open again. */
  up(address: string): void {
    this.#down.delete(address);
  }

  /**
   * Calls back with the reason if operation id is ended here as failed (its member died); returns
   * what stops watching. A wait forwarded to a member that froze (no close to notice) ends so.
   */
  whenFailed(id: string, cb: (why: string) => void): () => void {
    let set = this.#failWatch.get(id);
    if (!set) this.#failWatch.set(id, set = new Set());
    set.add(cb);
    return () => {
      set.delete(cb);
      if (set.size === 0 && this.#failWatch.get(id) === set) this.#failWatch.delete(id);
    };
  }

  /** Operations followed now, by id (for tests and the doctor). */
  followed(): string[] {
    return [...this.#ops.keys()];
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  async #ask(address: string): Promise<void> {
    if (this.#asking.has(address)) return;
    this.#asking.add(address);
    try {
      let unreachable = 0;
      // Operations seen running since the stream came back need no more asking: its events
      // (and the replay of what was missed) carry them on.
      const settled = new Set<string>();
      while (!this.#stopped) {
        const pending = [...this.#ops].filter(([id, f]) => f.address === address && !settled.has(id));
        if (pending.length === 0) return;
        let lastError = "";
        let reached = false;
        for (const [id, f] of pending) {
          let got: Record<string, unknown> | null | "unknown";
          const timeoutMs = this.#o.askTimeoutMs ?? 3_000;
          const signal = AbortSignal.timeout(timeoutMs);
          try {
            got = await this.#o.ask(address, id, signal);
          } catch (e) {
            lastError = signal.aborted ? `it did not answer in ${timeoutMs / 1000} s` : errorMessage(e);
            continue;
          }
          reached = true;
          if (this.#ops.get(id) !== f) continue; // its events moved on meanwhile
          if (got === "unknown") continue;
          if (got === null) {
            this.#fail(
              id,
              f,
              `Cluster member "${this.#o.nameOf(address)}" no longer has the operation (it restarted)`,
            );
          } else if (FINAL.has(got.status_code as number)) {
            this.#ops.delete(id);
            this.#o.deliver({ ...f.last, timestamp: new Date().toISOString(), metadata: got });
          } else if (!this.#down.has(address)) settled.add(id);
        }
        unreachable = reached ? 0 : unreachable + 1;
        if (unreachable >= (this.#o.unreachableRounds ?? 2)) {
          const name = this.#o.nameOf(address);
          for (const [id, f] of pending) {
            if (this.#ops.get(id) !== f) continue;
            this.#fail(
              id,
              f,
              `Cluster member "${name}" (${address}) that runs the operation is unreachable: ${lastError}`,
            );
          }
          return;
        }
        await new Promise<void>((r) => {
          const t = setTimeout(() => {
            this.#timers.delete(t);
            r();
          }, this.#o.probeMs ?? 1_000);
          unrefTimer(t);
          this.#timers.add(t);
        });
      }
    } finally {
      this.#asking.delete(address);
    }
  }

  /** Ends an operation for this member's listeners with a Failure that says why. */
  #fail(id: string, f: Followed, why: string): void {
    this.#ops.delete(id);
    const now = new Date().toISOString();
    const metadata = {
      ...(f.last.metadata as Record<string, unknown>),
      status: "Failure",
      status_code: 400,
      updated_at: now,
      may_cancel: false,
      err: why,
    };
    this.#o.deliver({ ...f.last, timestamp: now, metadata });
    for (const cb of this.#failWatch.get(id) ?? []) cb(why);
  }
}
