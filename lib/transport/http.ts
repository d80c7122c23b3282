import https from "node:https";
import type { Logger } from "../log/mod.ts";
import { pinnedIdentity } from "../client/mod.ts";
import type { KeyPair } from "../tls/mod.ts";
import { encodeBatch } from "./codec.ts";

/** What the transport needs to know of a message. */
export interface Addressed {
  to: number;
}

/** Options of the HTTP transport. */
export interface HttpTransportOptions {
  /** This member's raft id. */
  self: number;
  /** The cluster certificate: presented to peers, and the one peers must present. */
  tls: KeyPair;
  /** Fingerprint of the cluster certificate, pinned. */
  pin: string;
  /** Path of the receiving endpoint. */
  path?: string;
  log: Logger;
  /** Called when a peer could not be reached (Raft slows its replication to it). */
  onUnreachable?: (id: number) => void;
  /** Most messages queued for one peer; older ones are dropped (Raft retransmits). */
  maxQueue?: number;
}

class Peer<M> {
  queue: M[] = [];
  sending = false;
  failures = 0;
  constructor(public address: string) {}
}

/**
 * Raft messages over HTTPS with mutual TLS on the cluster address: one queue per peer, so a slow
 * or dead peer never delays the others, and everything queued while a POST is in flight leaves
 * in the next one (natural batching). Keep-alive connections; failures back off.
 */
export class HttpTransport<M extends Addressed> {
  #o: HttpTransportOptions;
  #peers = new Map<number, Peer<M>>();
  #agent: https.Agent;
  #closed = false;

  constructor(o: HttpTransportOptions) {
    this.#o = o;
    this.#agent = this.#newAgent();
  }

  #newAgent(): https.Agent {
    return new https.Agent({
      keepAlive: true,
      maxSockets: 4,
      cert: this.#o.tls.cert,
      key: this.#o.tls.key,
      ca: this.#o.tls.cert,
      checkServerIdentity: pinnedIdentity(this.#o.pin),
    });
  }

  /** Replaces the TLS material (cluster certificate update). */
  setTls(tls: KeyPair, pin: string): void {
    this.#o = { ...this.#o, tls, pin };
    const old = this.#agent;
    this.#agent = this.#newAgent();
    old.destroy();
  }

  /** Sets the address of every peer (raft id → host:port); unknown peers are dropped. */
  setPeers(peers: Map<number, string>): void {
    for (const [id, address] of peers) {
      if (id === this.#o.self) continue;
      const p = this.#peers.get(id);
      if (!p) this.#peers.set(id, new Peer(address));
      else if (p.address !== address) p.address = address;
    }
    for (const id of [...this.#peers.keys()]) if (!peers.has(id)) this.#peers.delete(id);
  }

  /** Queues messages; never blocks. */
  send(messages: M[]): void {
    if (this.#closed) return;
    const max = this.#o.maxQueue ?? 4096;
    for (const m of messages) {
      const p = this.#peers.get(m.to);
      if (!p) {
        this.#o.onUnreachable?.(m.to);
        continue;
      }
      p.queue.push(m);
      if (p.queue.length > max) p.queue.splice(0, p.queue.length - max);
    }
    for (const [id, p] of this.#peers) if (p.queue.length > 0 && !p.sending) void this.#flush(id, p);
  }

  async #flush(id: number, p: Peer<M>): Promise<void> {
    p.sending = true;
    try {
      while (p.queue.length > 0 && !this.#closed) {
        const batch = p.queue.splice(0, p.queue.length);
        try {
          await this.#post(p.address, encodeBatch(this.#o.self, batch));
          p.failures = 0;
        } catch (e) {
          p.failures++;
          if (p.failures === 1 || p.failures % 50 === 0) {
            this.#o.log.debug("Raft peer unreachable", {
              peer: id,
              address: p.address,
              err: e instanceof Error ? e.message : String(e),
            });
          }
          this.#o.onUnreachable?.(id);
          // Drop this batch (Raft retransmits) and back off so a dead peer costs little.
          await new Promise((r) => setTimeout(r, Math.min(1000, 20 * 2 ** Math.min(p.failures, 6))));
        }
      }
    } finally {
      p.sending = false;
    }
  }

  #post(address: string, body: string): Promise<void> {
    const [host, port] = splitAddress(address);
    return new Promise((resolve, reject) => {
      const req = https.request({
        host,
        port,
        method: "POST",
        path: this.#o.path ?? "/internal/raft",
        agent: this.#agent,
        headers: {
          "Content-Type": "application/json",
          "Content-Length": String(Buffer.byteLength(body)),
          "User-Agent": "shoal-raft",
        },
        timeout: 5000,
      }, (res) => {
        res.resume();
        res.on(
          "end",
          () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))),
        );
        res.on("error", reject);
      });
      // Small batches must leave at once, not wait for Nagle's algorithm to coalesce them.
      req.on("socket", (sock) => sock.setNoDelay(true));
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", reject);
      req.end(body);
    });
  }

  close(): void {
    this.#closed = true;
    this.#agent.destroy();
    this.#peers.clear();
  }
}

function splitAddress(address: string): [string, number] {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (!m) return [address, 8443];
  return [m[1]!, Number(m[2])];
}
