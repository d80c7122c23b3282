/**
 * The event hub of a member: what /1.0/events streams (operation, lifecycle and logging events)
 * in LXD's Event format. Events from other members are published here too (with their own
 * location), so any member's stream carries the whole cluster's events.
 * @module
 */

import type { Event, EventType } from "../wire/mod.ts";
export type { Event, EventType };

/** What a listener wants. */
export interface EventFilter {
  types: readonly EventType[];
  /** Only this project's events, unless allProjects. */
  project?: string;
  allProjects?: boolean;
  /** Only events raised on this member, not those relayed from others (another member listening). */
  localOnly?: boolean;
}

type Listener = { filter: EventFilter; send: (e: Event) => void };

/** The lifecycle event metadata LXD sends. */
export interface LifecycleMetadata {
  action: string;
  source: string;
  context?: Record<string, unknown>;
  requestor?: { username: string; protocol: string; address: string } | null;
}

const RECENT_MAX = 256;
const RECENT_MS = 30_000;

/** Fans events out to listeners; never blocks the publisher. */
export class EventHub {
  #listeners = new Set<Listener>();
  #location: () => string;
  /** Called for every locally raised event (cluster relay plugs in here). */
  onLocal: ((e: Event) => void) | null = null;
  /** Events that came from other members: never sent on to members (no loops, no duplicates). */
  #relayed = new WeakSet<Event>();
  /** The last local events, for a member that connects late (a joiner's first events). */
  #recent: { at: number; e: Event }[] = [];

  /** location() names this member in events ("none" when standalone, as LXD). */
  constructor(location: () => string) {
    this.#location = location;
  }

  /** Adds a listener; returns its removal. */
  subscribe(filter: EventFilter, send: (e: Event) => void): () => void {
    const l = { filter, send };
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  /** Number of connected listeners. */
  get size(): number {
    return this.#listeners.size;
  }

  /** Raises an event on this member. */
  publish(type: EventType, metadata: unknown, project = "default"): void {
    const e: Event = {
      type,
      timestamp: new Date().toISOString(),
      metadata,
      location: this.#location(),
      project,
    };
    this.dispatch(e);
    this.#remember(e);
    this.onLocal?.(e);
  }

  #remember(e: Event): void {
    const now = Date.now();
    this.#recent.push({ at: now, e });
    while (this.#recent.length > RECENT_MAX || (this.#recent[0]!.at < now - RECENT_MS)) this.#recent.shift();
  }

  /** Local events raised at or after sinceMs (ms since epoch), oldest first, from the last 30 s. */
  recent(sinceMs: number): Event[] {
    return this.#recent.filter((r) => r.at >= sinceMs).map((r) => r.e);
  }

  /** Delivers an event raised on another member to this member's listeners. */
  relay(e: Event): void {
    this.#relayed.add(e);
    this.dispatch(e);
  }

  /** Raises a lifecycle event (e.g. action "config-updated", source "/1.0"). */
  lifecycle(
    action: string,
    source: string,
    context: Record<string, unknown> = {},
    project = "default",
  ): void {
    const meta: LifecycleMetadata = { action, source, context, requestor: null };
    this.publish("lifecycle", meta, project);
  }

  /** Delivers an event (local or relayed from another member) to matching listeners. */
  dispatch(e: Event): void {
    for (const l of this.#listeners) {
      if (!l.filter.types.includes(e.type)) continue;
      if (l.filter.localOnly && this.#relayed.has(e)) continue;
      if (!l.filter.allProjects && l.filter.project && e.project && e.project !== l.filter.project) continue;
      try {
        l.send(e);
      } catch { /* a closed socket is removed by its own close handler */ }
    }
  }
}
