import type { Heartbeat, HeartbeatMember } from "../wire/mod.ts";

/** What the leader knows of a member's liveness, as heartbeats tell it. */
export interface Liveness {
  online: boolean;
  /** Milliseconds since the member last answered (0 when it answers now). */
  silentMs: number;
  /** When it last answered (ISO 8601), "" if never. */
  lastSeen: string;
  /** Why it answers but cannot serve (a full disk), "" when it can: cluster list's MESSAGE. */
  problem: string;
}

/** A member counts as silent on the wire once it has not answered for this long. */
export const SILENT_AFTER_MS = 1_500;

/** A new leader starts from the last leader's heartbeat only if it arrived this recently. */
const LEADER_MEMORY_MS = 5_000;

/**
 * Who is online, as the leader sees it. The leader records each member's last answer; the
 * others keep the leader's last heartbeat and age it by how long ago it arrived, so every
 * member shows the same states within one heartbeat interval.
 */
export class LivenessTable {
  /** address → time (ms since epoch) the member last answered the leader. */
  #lastSeen = new Map<string, number>();
  /** Members that said they are stopping: offline at once, until they answer again. */
  #gone = new Set<string>();
  /** address → the problem it told in its last answer (leader side; absent: none). */
  #problems = new Map<string, string>();
  #fromLeader: { hb: Heartbeat; at: number } | null = null;
  /** When this member started listening for heartbeats (start, or joining a cluster). */
  #since: number;
  #clock: () => number;

  constructor(clock: () => number = Date.now) {
    this.#clock = clock;
    this.#since = clock();
  }

  /** Forgets every heartbeat (this member joined a cluster): silence counts from now. */
  restart(): void {
    this.#fromLeader = null;
    this.#lastSeen.clear();
    this.#gone.clear();
    this.#problems.clear();
    this.#since = this.#clock();
  }

  /** Leader side: address answered now, telling why it cannot serve (null or "": it can). */
  seen(address: string, problem?: string | null): void {
    this.#lastSeen.set(address, this.#clock());
    this.#gone.delete(address);
    if (problem) this.#problems.set(address, problem);
    else this.#problems.delete(address);
  }

  /** Leader side: address announced a graceful stop; it is offline from now on. */
  stopping(address: string): void {
    this.#gone.add(address);
  }

  /** Leader side: start counting for members never seen (a new leader gives everyone a fresh start). */
  track(addresses: string[]): void {
    const now = this.#clock();
    for (const a of addresses) if (!this.#lastSeen.has(a)) this.#lastSeen.set(a, now);
    for (const a of [...this.#lastSeen.keys()]) if (!addresses.includes(a)) this.#lastSeen.delete(a);
    for (const a of [...this.#problems.keys()]) if (!addresses.includes(a)) this.#problems.delete(a);
  }

  /**
   * Leader side: this member now leads. Silence counts from what the last leader's heartbeat
   * told (when it is recent), so that a leader killed shows OFFLINE a threshold after its last
   * heartbeat, as any member does, rather than a threshold after the election that followed.
   */
  resetLeader(addresses: string[]): void {
    this.#lastSeen.clear();
    this.#problems.clear();
    const f = this.#fromLeader;
    if (f && this.#clock() - f.at < LEADER_MEMORY_MS) {
      for (const a of addresses) {
        const s = f.hb.silent.find((x) => x.address === a);
        this.#lastSeen.set(a, s ? f.at - s.silentMs : f.at);
        if (s?.stopped) this.#gone.add(a);
      }
    }
    this.track(addresses);
  }

  /** Follower side: a heartbeat from the leader arrived. */
  received(hb: Heartbeat): void {
    this.#fromLeader = { hb, at: this.#clock() };
  }

  /** The heartbeat this member, as leader, sends now. */
  heartbeat(leader: string, term: number, members: { name: string; address: string }[]): Heartbeat {
    const now = this.#clock();
    const silent: HeartbeatMember[] = [];
    for (const m of members) {
      const t = this.#lastSeen.get(m.address) ?? now;
      const stopped = this.#gone.has(m.address);
      if (now - t < SILENT_AFTER_MS && !stopped) continue;
      silent.push({
        name: m.name,
        address: m.address,
        silentMs: now - t,
        lastSeen: new Date(t).toISOString(),
        stopped,
      });
    }
    const problems = members.flatMap((m) => {
      const message = this.#problems.get(m.address);
      return message ? [{ address: m.address, message }] : [];
    });
    return { leader, term, silent, problems };
  }

  /**
   * Liveness of a member. `self` is always online; `leading` says whether to use this member's
   * own table or the leader's last heartbeat.
   */
  of(address: string, o: { self: boolean; leading: boolean; thresholdMs: number }): Liveness {
    const now = this.#clock();
    if (o.self) return { online: true, silentMs: 0, lastSeen: new Date(now).toISOString(), problem: "" };
    if (o.leading) {
      const t = this.#lastSeen.get(address) ?? now;
      const online = now - t < o.thresholdMs && !this.#gone.has(address);
      const problem = this.#problems.get(address) ?? "";
      return { online, silentMs: now - t, lastSeen: new Date(t).toISOString(), problem };
    }
    const f = this.#fromLeader;
    if (!f) {
      // No heartbeat yet (just started or joined): nobody is offline before a whole threshold
      // of silence has passed here, or a new member would show everyone OFFLINE for a moment.
      const silent = now - this.#since;
      return { online: silent < o.thresholdMs, silentMs: silent, lastSeen: "", problem: "" };
    }
    const problem = f.hb.problems?.find((x) => x.address === address)?.message ?? "";
    const m = f.hb.silent.find((x) => x.address === address);
    if (!m) {
      // Not named silent: it answered the leader about when this heartbeat left.
      const silent = now - f.at;
      return {
        online: silent < o.thresholdMs,
        silentMs: silent,
        lastSeen: new Date(f.at).toISOString(),
        problem,
      };
    }
    const silent = m.silentMs + (now - f.at);
    return { online: silent < o.thresholdMs && !m.stopped, silentMs: silent, lastSeen: m.lastSeen, problem };
  }

  /** When the last heartbeat from a leader arrived (ms since epoch), 0 if never. */
  get lastHeartbeatAt(): number {
    return this.#fromLeader?.at ?? 0;
  }
}
