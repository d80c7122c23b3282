// @ts-types="@types/ws"
import WS from "ws";
import { pinnedIdentity } from "../client/mod.ts";
import type { GlobalDB } from "../db/mod.ts";
import { memberNameAt } from "./route_rows.ts";
import type { Event, EventHub } from "../events/mod.ts";
import type { Logger } from "../log/mod.ts";
import { fingerprint, type KeyPair } from "../tls/mod.ts";
import { errorMessage, type TimerId, unrefTimer } from "../util/mod.ts";
import type { MemberClients } from "./connect.ts";
import { callMember, MEMBER_CALLS } from "./member_calls.ts";
import { RelayedOperations } from "./relayed_operations.ts";

/** What the relay needs of its member. */
export interface EventRelayOptions {
  events: EventHub;
  db: GlobalDB;
  log: Logger;
  /** The cluster certificate (null while standalone): what every member serves, pinned. */
  tls: () => KeyPair | null;
  /** This member's own certificate, presented to the others: they know it by it. */
  clientCert: () => KeyPair;
  /** This member's cluster address ("" while standalone). */
  address: () => string;
  /** The member's clients to the others (shared: the member resets them when its certificate changes). */
  clients: MemberClients;
  /** How often the members table is read for members added and removed. */
  everyMs?: number;
}

/** A member that appears while we run may have raised events (its "member added") before we connected. */
const NEW_MEMBER_REPLAY_MS = 15_000;
/**
 * A member that appears while we run is connected to after 2-4 s (its events meanwhile come with
 * the replay): every other member connecting at once, each with its TLS handshakes, fell on the
 * joiner while it caught up with the database, and made each join of a big cluster slower.
 */
const NEW_MEMBER_DELAY_MS = 2_000;
/** Reconnects back off up to this. */
const MAX_BACKOFF_MS = 2_000;
/** A stream that answers no ping for this long is dead (a member frozen or cut off, not closed). */
const PING_MS = 10_000;
/** How many recent event texts a stream remembers to drop the duplicates of a replay. */
const SEEN_MAX = 512;

/**
 * LXD's full-mesh event mode: this member listens to every other member's /1.0/events with the
 * cluster certificate and hands what arrives to its own listeners. Members send members only
 * their own events (EventFilter.localOnly), so nothing loops or arrives twice; each event keeps
 * the location of the member that raised it.
 */
export class EventRelay {
  #o: EventRelayOptions;
  #peers = new Map<string, PeerStream>();
  #tls: KeyPair | null = null;
  #pin = "";
  #timer: TimerId | undefined;
  #syncing = false;
  #stopped = false;
  /** Whether the members known at the first look were connected (later ones are new members). */
  #primed = false;
  /** Other members' operations relayed here, ended for our listeners when their member dies. */
  readonly operations: RelayedOperations;

  constructor(o: EventRelayOptions) {
    this.#o = o;
    this.operations = new RelayedOperations({
      deliver: (e) => this.#o.events.relay(e),
      ask: async (address, id, signal) => {
        const path = `/1.0/operations/${encodeURIComponent(id)}`;
        const r = await this.#o.clients.get(address).raw("GET", path, { signal });
        if (r.status === 404) return null;
        return r.status === 200 ? r.envelope.metadata as Record<string, unknown> : "unknown";
      },
      nameOf: (address) => {
        try {
          return this.#o.db.readStale((tx) => memberNameAt(tx, address)) ?? address;
        } catch {
          return address;
        }
      },
    });
  }

  /** Starts watching the members table and connecting to the members in it. */
  start(): void {
    this.#stopped = false;
    void this.#tick();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#closeAll();
    this.operations.stop();
  }

  /** Addresses of the members whose event streams are open now. */
  connected(): string[] {
    return [...this.#peers.values()].filter((p) => p.open).map((p) => p.address);
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.#sync();
    } catch (e) {
      this.#o.log.warn("Event relay could not read the members", { err: errorMessage(e) });
    }
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#tick(), this.#o.everyMs ?? 250);
    unrefTimer(this.#timer);
  }

  #closeAll(): void {
    for (const p of this.#peers.values()) p.close();
    this.#peers.clear();
  }

  async #sync(): Promise<void> {
    if (this.#syncing) return;
    this.#syncing = true;
    try {
      const tls = this.#o.tls();
      const self = this.#o.address();
      if (tls !== this.#tls) {
        // A new cluster certificate (this member joined): streams opened with the old one are no good.
        this.#closeAll();
        this.#tls = tls;
        this.#pin = tls ? await fingerprint(tls.cert) : "";
      }
      if (!tls || self === "") return this.#closeAll();
      let nodes;
      try {
        // Only the addresses, four times a second: not listNodes' queries per member.
        nodes = this.#o.db.readStale((tx) => tx.query<{ address: string }>("SELECT address FROM nodes"));
      } catch {
        return; // no schema yet: a member still joining
      }
      const want = new Set<string>();
      for (const n of nodes) if (n.address !== "" && n.address !== self) want.add(n.address);
      for (const [address, p] of this.#peers) {
        if (!want.has(address)) {
          p.close();
          this.#peers.delete(address);
        }
      }
      for (const address of want) {
        if (this.#peers.has(address)) continue;
        const p = new PeerStream(address, tls, this.#pin, {
          deliver: (e) => {
            this.operations.seen(address, e);
            this.#o.events.relay(e);
          },
          up: () => this.operations.up(address),
          down: () => this.operations.down(address),
          replay: (since) => this.#recentOf(address, since),
          log: this.#o.log,
          clientCert: this.#o.clientCert,
          replaySince: this.#primed ? Date.now() - NEW_MEMBER_REPLAY_MS : null,
          delayMs: this.#primed ? NEW_MEMBER_DELAY_MS * (1 + Math.random()) : 0,
        });
        this.#peers.set(address, p);
      }
      if (want.size > 0 || nodes.some((n) => n.address === self)) this.#primed = true;
    } finally {
      this.#syncing = false;
    }
  }

  async #recentOf(address: string, since: number): Promise<Event[]> {
    const events = await callMember(
      this.#o.clients.get(address),
      MEMBER_CALLS.recentEvents,
      { since },
      AbortSignal.timeout(5_000),
    );
    return events ?? [];
  }
}

interface PeerStreamOptions {
  deliver: (e: Event) => void;
  /** The stream opened; it broke (after it was open). */
  up: () => void;
  down: () => void;
  replay: (sinceMs: number) => Promise<Event[]>;
  log: Logger;
  clientCert: () => KeyPair;
  /** Fetch the member's events since then once connected (null: none, it was there before us). */
  replaySince: number | null;
  /** Wait this long before the first connection. */
  delayMs?: number;
}

/** One member's event stream, reconnected until closed. */
class PeerStream {
  readonly address: string;
  #tls: KeyPair;
  #pin: string;
  #o: PeerStreamOptions;
  #ws: WS | null = null;
  #closed = false;
  #open = false;
  #timer: TimerId | undefined;
  #pinger: TimerId | undefined;
  #backoff = 100;
  #replaySince: number | null;
  /** Texts of recent events, to drop what both the stream and a replay carry. */
  #seen = new Set<string>();

  constructor(address: string, tls: KeyPair, pin: string, o: PeerStreamOptions) {
    this.address = address;
    this.#tls = tls;
    this.#pin = pin;
    this.#o = o;
    this.#replaySince = o.replaySince;
    if (o.delayMs) {
      this.#timer = setTimeout(() => this.#connect(), o.delayMs);
      unrefTimer(this.#timer);
    } else this.#connect();
  }

  get open(): boolean {
    return this.#open;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#pinger);
    this.#ws?.terminate();
    this.#ws = null;
  }

  #connect(): void {
    if (this.#closed) return;
    // shoal-events=lines: the events of a turn come in one frame, one per line (api/websocket.ts
    // EVENT_LINES_PARAM); a member of an older version ignores it and sends one per frame.
    const ws = new WS(`wss://${this.address}/1.0/events?all-projects=true&shoal-events=lines`, {
      ca: this.#tls.cert,
      cert: this.#o.clientCert().cert,
      key: this.#o.clientCert().key,
      checkServerIdentity: pinnedIdentity(this.#pin),
      headers: { "User-Agent": "lxd-cluster-notifier" },
      handshakeTimeout: 5_000,
    } as unknown as WS.ClientOptions);
    this.#ws = ws;
    ws.on("open", () => {
      this.#open = true;
      this.#o.up();
      this.#backoff = 100;
      let alive = true;
      ws.on("pong", () => (alive = true));
      clearInterval(this.#pinger);
      this.#pinger = setInterval(() => {
        if (!alive) return ws.terminate();
        alive = false;
        ws.ping();
      }, PING_MS);
      unrefTimer(this.#pinger);
      const since = this.#replaySince;
      this.#replaySince = null;
      if (since !== null) void this.#replay(since);
    });
    ws.on("message", (data) => {
      for (const text of data.toString().split("\n")) this.#received(text);
    });
    ws.on("error", () => {/* "close" follows and reconnects */});
    ws.on("close", () => {
      const wasOpen = this.#open;
      this.#open = false;
      clearInterval(this.#pinger);
      if (this.#closed || this.#ws !== ws) return;
      // What it raises while we are away is fetched when we are back (if it is still up).
      if (wasOpen) this.#replaySince = Date.now() - 1_000;
      if (wasOpen) this.#o.down();
      this.#timer = setTimeout(() => this.#connect(), this.#backoff);
      unrefTimer(this.#timer);
      this.#backoff = Math.min(MAX_BACKOFF_MS, this.#backoff * 2);
    });
  }

  #received(text: string): void {
    let e: Event;
    try {
      e = JSON.parse(text);
    } catch {
      return;
    }
    if (e.type !== "logging" && !this.#remember(text)) return;
    this.#o.deliver(e);
  }

  /** Records an event's text; false when it was already delivered. */
  #remember(text: string): boolean {
    if (this.#seen.has(text)) return false;
    this.#seen.add(text);
    if (this.#seen.size > SEEN_MAX) this.#seen.delete(this.#seen.values().next().value!);
    return true;
  }

  async #replay(since: number): Promise<void> {
    try {
      const events = await this.#o.replay(since);
      for (const e of events) {
        // Events from before it was a member (standalone, "none") are not the cluster's.
        if (this.#closed || e.location === "none") continue;
        if (this.#remember(JSON.stringify(e))) this.#o.deliver(e);
      }
    } catch (err) {
      this.#o.log.debug("Could not fetch a member's recent events", {
        address: this.address,
        err: errorMessage(err),
      });
    }
  }
}
