import { setImmediate } from "node:timers";
import type { Logger } from "../log/mod.ts";
import type { KeyPair } from "../tls/mod.ts";
import { connectWs, type WsClient } from "./client_ws.ts";
import { encodeBatch } from "./codec.ts";

/** What the transport needs to know of a message. */
export interface Addressed {
  to: number;
  /** Log entries carried: a message with some leaves at once (a follower waits on it). */
  entries?: unknown[];
  /** Raft's message type: an answer ("...-resp") leaves at once too (its asker waits on it). */
  type?: string;
}

/** Options of the transport. */
export interface TransportOptions {
  /** This member's raft id. */
  self: number;
  /** The cluster certificate: the one peers serve (pinned). */
  tls: KeyPair;
  /** This member's own certificate, presented to peers: they know the member by it. */
  clientCert: () => KeyPair;
  /** Fingerprint of the cluster certificate, pinned. */
  pin: string;
  /** Path of the receiving endpoint. */
  path?: string;
  log: Logger;
  /** Called when a peer could not be reached (Raft slows its replication to it). */
  onUnreachable?: (id: number) => void;
  /** A connection to peer `id` opened (it may have missed what was sent while it could not be reached). */
  onReached?: (id: number) => void;
  /** An open connection to peer `id` closed (not a failed attempt): its process may have died. */
  onLost?: (id: number) => void;
  /** Most messages queued for one peer; older ones are dropped (Raft retransmits). */
  maxQueue?: number;
}

/** Path of the Raft stream on the cluster address. */
export const RAFT_STREAM_PATH = "/internal/raft";

class Peer<M> {
  queue: M[] = [];
  ws: WsClient | null = null;
  connecting = false;
  failures = 0;
  /** Whether a connection to it ever opened (one that never did is most likely still joining). */
  reached = false;
  /** When this transport learnt of it (performance.now()). */
  readonly since = performance.now();
  retry: ReturnType<typeof setTimeout> | undefined;
  scheduled = false;
  constructor(public address: string) {}
}

/**
 * How long a peer never reached is dialled every FRESH_RETRY_MS: a joiner starts its listener
 * a few milliseconds after the leader accepted it and first sent to it, and each refused dial
 * on the backoff below cost its join 40-80 ms more. A refused connection costs nothing much.
 */
const FRESH_MS = 3_000;
const FRESH_RETRY_MS = 10;

/**
 * Raft messages over one websocket per peer on the cluster address (wss://ADDRESS/internal/raft,
 * mutual TLS: the cluster certificate pinned, this member's own certificate presented). Everything queued for a peer in one turn of
 * the event loop leaves in one frame, sent once that turn's I/O is handled (setImmediate): each
 * frame costs a TLS write, the leader's largest cost per commit, and with 16 writers this
 * halved the frames and raised PATCH /1.0 from ~1,130 to ~1,400 tx/s. Entries are the exception:
 * they leave at once, so that a leader that sends before its own fsync overlaps it with its
 * followers' (one client's commit: median 2.2-2.4 → 1.7 ms); and answers, which a follower
 * sends from a Ready of its own (one frame anyway): an append's answer waited for the rest of
 * its Ready (applying what it committed) and the turn's end, and now leaves 0.09 ms sooner after
 * the follower's write (timestamps along the path, one client). A frame on an open
 * stream costs no request parsing or response on either side (bench/replication.ts: a commit's
 * median 19.5 → 6-11 ms, and 401 → 665 tx/s with 16 clients, against one HTTPS POST per batch).
 * A peer that cannot be reached costs a backoff and never delays the others.
 */
export class WsTransport<M extends Addressed> {
  #o: TransportOptions;
  #peers = new Map<number, Peer<M>>();
  #closed = false;

  constructor(o: TransportOptions) {
    this.#o = o;
  }

  /**
   * Replaces the TLS material (cluster certificate update): streams reconnect with it at once.
   * A stream closed on purpose is no lost peer: reported as one (onLost), a follower took its
   * leader for dead and campaigned, and the election that every update-certificate then risked
   * under load failed reads on the members with "No database leader" (seen in CI).
   */
  setTls(tls: KeyPair, pin: string): void {
    this.#o = { ...this.#o, tls, pin };
    for (const p of this.#peers.values()) this.#reconnect(p);
  }

  /** Closes the peer's stream, if any, without reporting it lost, and opens a new one. */
  #reconnect(p: Peer<M>): void {
    const ws = p.ws;
    if (!ws) return;
    p.ws = null; // its close event is then not this peer's (see down())
    p.connecting = false;
    ws.terminate();
    if (!this.#closed && p.retry === undefined) this.#connect(p);
  }

  /** Sets the address of every peer (raft id → host:port); unknown peers are dropped. */
  setPeers(peers: Map<number, string>): void {
    for (const [id, address] of peers) {
      if (id === this.#o.self) continue;
      const p = this.#peers.get(id);
      if (!p) this.#peers.set(id, new Peer(address));
      else if (p.address !== address) {
        p.address = address;
        this.#reconnect(p);
      }
    }
    for (const [id, p] of [...this.#peers]) {
      if (!peers.has(id)) {
        this.#drop(p);
        this.#peers.delete(id);
      }
    }
  }

  /**
   * Opens the stream to each of these peers not connected yet, with nothing to send: a joiner's
   * first answer to its leader then leaves on an open stream instead of waiting a TLS handshake.
   */
  connectTo(ids: number[]): void {
    if (this.#closed) return;
    for (const id of ids) {
      const p = this.#peers.get(id);
      if (p && !p.ws && !p.connecting && p.retry === undefined) this.#connect(p);
    }
  }

  /** Queues messages; never blocks. */
  send(messages: M[]): void {
    if (this.#closed) return;
    const max = this.#o.maxQueue ?? 4096;
    const touched = new Set<Peer<M>>();
    const now = new Set<Peer<M>>();
    for (const m of messages) {
      const p = this.#peers.get(m.to);
      if (!p) {
        this.#o.onUnreachable?.(m.to);
        continue;
      }
      p.queue.push(m);
      if (p.queue.length > max) p.queue.splice(0, p.queue.length - max);
      touched.add(p);
      if ((m.entries && m.entries.length > 0) || m.type?.endsWith("-resp")) now.add(p);
    }
    for (const p of touched) {
      if (now.has(p)) {
        this.#flush(p);
        continue;
      }
      if (p.scheduled) continue;
      p.scheduled = true;
      setImmediate(() => {
        p.scheduled = false;
        this.#flush(p);
      });
    }
  }

  #flush(p: Peer<M>): void {
    if (p.queue.length === 0) return;
    const ws = p.ws;
    if (ws && ws.state === "open") {
      ws.send(encodeBatch(this.#o.self, p.queue.splice(0, p.queue.length)));
      return;
    }
    if (!p.connecting && p.retry === undefined) this.#connect(p);
  }

  #connect(p: Peer<M>): void {
    const id = [...this.#peers].find(([, x]) => x === p)?.[0] ?? 0;
    p.connecting = true;
    const own = this.#o.clientCert();
    let ws: WsClient | null = null;
    const down = (err?: Error) => {
      if (p.ws !== ws) return;
      const wasOpen = !p.connecting;
      p.ws = null;
      p.connecting = false;
      if (this.#closed || !this.#peers.has(id)) return;
      p.failures++;
      if (p.failures === 1 || p.failures % 50 === 0) {
        this.#o.log.debug("Raft peer unreachable", {
          peer: id,
          address: p.address,
          err: err?.message ?? "closed",
        });
      }
      // Raft retransmits what was lost; a slow or dead peer must not hold old messages.
      p.queue = [];
      this.#o.onUnreachable?.(id);
      if (wasOpen) this.#o.onLost?.(id);
      // A peer never reached is most likely a joiner starting its listener: it is tried often, so
      // that it gets the log as soon as it listens (a joiner waited up to a second here), and
      // in its first seconds as often as a refused dial allows (FRESH_MS).
      const fresh = !p.reached && performance.now() - p.since < FRESH_MS;
      p.retry = setTimeout(() => {
        p.retry = undefined;
        // One never reached is retried for a few seconds even with nothing to send (a joiner
        // starting its listener): then onReached re-sends what it missed at once.
        if (p.queue.length > 0 || (!p.reached && (fresh || p.failures <= 10))) this.#connect(p);
      }, fresh ? FRESH_RETRY_MS : Math.min(p.reached ? 1000 : 200, 20 * 2 ** Math.min(p.failures, 6)));
    };
    // Peers send nothing back on this stream: their answers come on their own.
    ws = connectWs({
      address: p.address,
      path: this.#o.path ?? RAFT_STREAM_PATH,
      ca: this.#o.tls.cert,
      pin: this.#o.pin,
      cert: own.cert,
      key: own.key,
      handshakeTimeoutMs: 5_000,
    }, {
      onOpen: () => {
        p.connecting = false;
        const missed = p.failures > 0;
        p.failures = 0;
        p.reached = true;
        this.#flush(p);
        if (missed) this.#o.onReached?.(id);
      },
      onClose: (err) => down(err),
    });
    p.ws = ws;
  }

  #drop(p: Peer<M>): void {
    clearTimeout(p.retry);
    p.retry = undefined;
    const ws = p.ws;
    p.ws = null;
    ws?.terminate();
  }

  close(): void {
    this.#closed = true;
    for (const p of this.#peers.values()) this.#drop(p);
    this.#peers.clear();
  }
}
