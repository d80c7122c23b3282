/**
 * One websocket per member pair that carries every operation stream proxied between them (the
 * four streams of an exec, a console's two), instead of a connection, and so a TLS handshake, of
 * their own each. An exec through a member that does not own the instance paid four handshakes
 * before the command could start (measured: 1.7-1.9x the owner's own round trip); over a
 * tunnel already open it pays none.
 *
 * Frames are binary: one byte of kind, the stream's id (uint32, big-endian), the payload. The
 * side that opens the tunnel opens streams on it (OPEN with the stream's path, answered OPENED or
 * REFUSED); either side sends TEXT and BIN frames and ends a stream with CLOSE. Only operation
 * streams travel here (the accepting side checks the path): the Raft and call streams keep
 * their own connections.
 */
import { StatusError } from "../util/mod.ts";

/** What a websocket proxy needs of the client's side (lib/operations' OpSocket). */
export interface ProxiedSocket {
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onMessage(handler: (data: string | Uint8Array) => void): void;
  onClose(handler: () => void): void;
}

/** The member's side of a proxied websocket, open. */
export interface UpstreamSocket {
  send(data: string | Uint8Array): void;
  /** From now on its frames go to client (those that came before first), and its close closes it. */
  setClient(client: ProxiedSocket): void;
  close(): void;
}

export { TUNNEL_PATH } from "./member_calls.ts";

/** How long a stream waits for the member to take it (a websocket's own handshake waited as long). */
const OPEN_TIMEOUT_MS = 10_000;

const OPEN = 0, BIN = 1, TEXT = 2, CLOSE = 3, OPENED = 4, REFUSED = 5;

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeFrame(
  kind: number,
  id: number,
  payload: Uint8Array | string = new Uint8Array(),
): Uint8Array {
  const body = typeof payload === "string" ? enc.encode(payload) : payload;
  const out = new Uint8Array(5 + body.length);
  out[0] = kind;
  new DataView(out.buffer).setUint32(1, id);
  out.set(body, 5);
  return out;
}

export function decodeFrame(d: Uint8Array): { kind: number; id: number; payload: Uint8Array } | null {
  if (d.length < 5) return null;
  return {
    kind: d[0]!,
    id: new DataView(d.buffer, d.byteOffset, d.byteLength).getUint32(1),
    payload: d.subarray(5),
  };
}

/** A stream as the tunnel's sockets see it (lib/operations' OpSocket, structurally). */
export interface TunnelSocket {
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onMessage(handler: (data: string | Uint8Array) => void): void;
  onClose(handler: () => void): void;
  buffered?(): number;
}

/** One stream of a tunnel, as a socket: frames wait until a handler takes them. */
class Stream implements TunnelSocket {
  #queue: (string | Uint8Array)[] = [];
  #onMessage: ((d: string | Uint8Array) => void) | null = null;
  #onClose: (() => void)[] = [];
  #closed = false;

  constructor(readonly id: number, readonly tunnel: TunnelSocket, readonly forget: () => void) {}

  send(d: string | Uint8Array): void {
    if (!this.#closed) this.tunnel.send(encodeFrame(typeof d === "string" ? TEXT : BIN, this.id, d));
  }

  close(): void {
    if (this.#closed) return;
    this.tunnel.send(encodeFrame(CLOSE, this.id));
    this.ended();
  }

  onMessage(h: (d: string | Uint8Array) => void): void {
    this.#onMessage = h;
    for (const d of this.#queue.splice(0)) h(d);
  }

  onClose(h: () => void): void {
    if (this.#closed) queueMicrotask(h);
    else this.#onClose.push(h);
  }

  buffered(): number {
    return this.tunnel.buffered?.() ?? 0;
  }

  deliver(d: string | Uint8Array): void {
    if (this.#closed) return;
    if (this.#onMessage) this.#onMessage(d);
    else this.#queue.push(d);
  }

  /** The stream is over (the other side closed it, this side did, or the tunnel went). */
  ended(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.forget();
    for (const h of this.#onClose.splice(0)) queueMicrotask(h);
  }
}

function dataOf(kind: number, payload: Uint8Array): string | Uint8Array {
  return kind === TEXT ? dec.decode(payload) : payload.slice();
}

/**
 * The accepting side: serves the streams a member opens on its tunnel. route() decides what
 * serves a stream's path (throws a StatusError to refuse it), as for a websocket of its own.
 */
export function serveTunnel(
  socket: TunnelSocket,
  route: (path: string) => ((s: TunnelSocket) => void) | Promise<(s: TunnelSocket) => void>,
): void {
  const streams = new Map<number, Stream>();
  socket.onMessage((d) => {
    if (typeof d === "string") return;
    const f = decodeFrame(d);
    if (!f) return;
    if (f.kind === OPEN) {
      if (streams.has(f.id)) return;
      const s = new Stream(f.id, socket, () => streams.delete(f.id));
      streams.set(f.id, s);
      const path = dec.decode(f.payload);
      void (async () => {
        try {
          if (!/^\/1\.0\/operations\/[^/]+\/websocket(\?|$)/.test(path)) {
            throw new StatusError(403, "Only operation streams go through a member tunnel");
          }
          const handler = await route(path);
          socket.send(encodeFrame(OPENED, f.id));
          handler(s);
        } catch (e) {
          streams.delete(f.id);
          const status = e instanceof StatusError ? e.status : 500;
          const message = e instanceof Error ? e.message : String(e);
          socket.send(encodeFrame(REFUSED, f.id, JSON.stringify({ status, message })));
        }
      })();
      return;
    }
    const s = streams.get(f.id);
    if (!s) return;
    if (f.kind === CLOSE) s.ended();
    else if (f.kind === BIN || f.kind === TEXT) s.deliver(dataOf(f.kind, f.payload));
  });
  socket.onClose(() => {
    for (const s of [...streams.values()]) s.ended();
  });
}

interface Pending {
  opened: (u: UpstreamSocket) => void;
  refused: (e: Error) => void;
}

/**
 * The opening side: a tunnel to one member, open. stream() opens a stream on it; when the
 * tunnel goes, its streams end and the next stream needs a new tunnel (isOpen is false).
 */
export class TunnelClient {
  #socket: TunnelSocket;
  #next = 1;
  #streams = new Map<
    number,
    { client: ProxiedSocket | null; early: (string | Uint8Array)[]; ended: boolean }
  >();
  #pending = new Map<number, Pending>();
  #open = true;
  #openTimeoutMs: number;

  constructor(socket: TunnelSocket, o: { openTimeoutMs?: number } = {}) {
    this.#socket = socket;
    this.#openTimeoutMs = o.openTimeoutMs ?? OPEN_TIMEOUT_MS;
    socket.onMessage((d) => {
      if (typeof d === "string") return;
      const f = decodeFrame(d);
      if (f) this.#frame(f.kind, f.id, f.payload);
    });
    socket.onClose(() => {
      this.#open = false;
      for (const p of this.#pending.values()) p.refused(new StatusError(503, "The member tunnel closed"));
      this.#pending.clear();
      for (const s of this.#streams.values()) s.client?.close();
      this.#streams.clear();
    });
  }

  get isOpen(): boolean {
    return this.#open;
  }

  close(): void {
    this.#socket.close();
  }

  #frame(kind: number, id: number, payload: Uint8Array): void {
    if (kind === OPENED || kind === REFUSED) {
      const p = this.#pending.get(id);
      this.#pending.delete(id);
      if (!p) return;
      if (kind === REFUSED) {
        let why = { status: 502, message: "The member refused the stream" };
        try {
          why = JSON.parse(dec.decode(payload));
        } catch { /* keep the default */ }
        this.#streams.delete(id);
        p.refused(new StatusError(why.status, why.message));
      } else p.opened(this.#upstream(id));
      return;
    }
    const s = this.#streams.get(id);
    if (!s) return;
    if (kind === CLOSE) {
      this.#streams.delete(id);
      s.ended = true;
      s.client?.close();
    } else if (kind === BIN || kind === TEXT) {
      const data = dataOf(kind, payload);
      if (s.client) s.client.send(data);
      else s.early.push(data);
    }
  }

  #upstream(id: number): UpstreamSocket {
    const s = this.#streams.get(id)!;
    return {
      send: (d) => {
        if (!s.ended) this.#socket.send(encodeFrame(typeof d === "string" ? TEXT : BIN, id, d));
      },
      setClient: (c) => {
        s.client = c;
        for (const d of s.early.splice(0)) c.send(d);
        if (s.ended) c.close();
      },
      close: () => {
        if (s.ended) return;
        s.ended = true;
        this.#streams.delete(id);
        if (this.#open) this.#socket.send(encodeFrame(CLOSE, id));
      },
    };
  }

  /** Opens a stream on path (an operation's websocket with its secret); resolves once the member took it. */
  stream(path: string): Promise<UpstreamSocket> {
    if (!this.#open) return Promise.reject(new StatusError(503, "The member tunnel closed"));
    const id = this.#next++;
    this.#streams.set(id, { client: null, early: [], ended: false });
    return new Promise((opened, refused) => {
      // A member that stops answering on an open tunnel (gone without a close) would hold the
      // stream forever: after OPEN_TIMEOUT_MS the tunnel counts as dead and the next one is new.
      const timer = setTimeout(() => {
        if (!this.#pending.delete(id)) return;
        this.#streams.delete(id);
        refused(new StatusError(503, "The member did not answer on its tunnel in time"));
        this.#open = false;
        this.#socket.close();
      }, this.#openTimeoutMs);
      this.#pending.set(id, {
        opened: (u) => {
          clearTimeout(timer);
          opened(u);
        },
        refused: (e) => {
          clearTimeout(timer);
          refused(e);
        },
      });
      this.#socket.send(encodeFrame(OPEN, id, path));
    });
  }
}
