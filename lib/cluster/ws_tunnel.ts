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
 *
 * The opening side also sends requests here (proxy.ts: forwarded writes, which must reach the
 * member exactly once, and the operations mesh's calls): REQUEST carries the head (method, path,
 * headers) and the whole body in one frame, sent once and never again; the answer comes as
 * RESPONSE (status and headers), its body in BIN frames, then CLOSE; a CLOSE from the opening
 * side cancels it (the request's signal aborts). A tunnel that breaks before the answer fails the
 * request: whether it took effect is unknown, and nothing sends it again. The accepting side says
 * it takes requests with HELLO as the tunnel opens (a member of an older version does not, and
 * gets its writes on connections of their own, as before).
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

const OPEN = 0, BIN = 1, TEXT = 2, CLOSE = 3, OPENED = 4, REFUSED = 5, REQUEST = 6, RESPONSE = 7, HELLO = 8;

/** How long a new tunnel waits for HELLO before it counts as one that takes no requests (an older member). */
const HELLO_TIMEOUT_MS = 1_000;

/** A request as it travels on a tunnel (its body follows the head in the same frame). */
export interface TunnelRequestHead {
  method: string;
  /** Path and query. */
  path: string;
  headers: Record<string, string>;
}

interface ResponseHead {
  status: number;
  headers: [string, string][];
}

/** Serves a request that came on a tunnel, as the member that opened it (lib/api's app). */
export type TunnelRequestHandler = (req: Request) => Promise<Response>;

/**
 * The tunnel was gone before a request left: it did not reach the member, and may be sent
 * again (on a new tunnel or a connection of its own).
 */
export class NotSent extends StatusError {
  constructor() {
    super(503, "The member tunnel closed before the request was sent");
  }
}

/** Statuses whose answer has no body (a Response refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** Bytes a response may have waiting on the tunnel before its body is read further. */
const RESPONSE_BACKLOG = 1 << 20;

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
  /** Whether the socket can still send (a socket that cannot says so before a request is lost in it). */
  isOpen?(): boolean;
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

/** REQUEST's payload: the head's length (uint32), the head as JSON, the body. */
function encodeRequest(head: TunnelRequestHead, body: Uint8Array | null): Uint8Array {
  const h = enc.encode(JSON.stringify(head));
  const out = new Uint8Array(4 + h.length + (body?.length ?? 0));
  new DataView(out.buffer).setUint32(0, h.length);
  out.set(h, 4);
  if (body) out.set(body, 4 + h.length);
  return out;
}

function decodeRequest(
  p: Uint8Array,
): { head: TunnelRequestHead; body: Uint8Array<ArrayBuffer> | null } | null {
  if (p.length < 4) return null;
  const n = new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(0);
  if (p.length < 4 + n) return null;
  try {
    const head = JSON.parse(dec.decode(p.subarray(4, 4 + n))) as TunnelRequestHead;
    if (typeof head?.method !== "string" || typeof head.path !== "string" || !head.path.startsWith("/")) {
      return null;
    }
    const body = p.length > 4 + n ? new Uint8Array(p.subarray(4 + n)) : null;
    return { head: { method: head.method, path: head.path, headers: head.headers ?? {} }, body };
  } catch {
    return null;
  }
}

/**
 * Runs one request that came on a tunnel and sends its answer back on stream id: the head, the
 * body as it is read (held back while the tunnel has much unsent), then CLOSE. cancelled tells
 * when the opening side stopped reading.
 */
async function answer(
  socket: TunnelSocket,
  id: number,
  serve: TunnelRequestHandler,
  req: Request,
  cancelled: Cancel,
): Promise<void> {
  let res: Response;
  try {
    res = await serve(req);
  } catch (e) {
    const status = e instanceof StatusError ? e.status : 500;
    res = new Response(JSON.stringify({ type: "error", error: errorText(e), error_code: status }), {
      status,
      headers: { "Content-Type": "application/json" },
    });
  }
  const head: ResponseHead = { status: res.status, headers: [...res.headers] };
  socket.send(encodeFrame(RESPONSE, id, JSON.stringify(head)));
  if (res.body) {
    const reader = res.body.getReader();
    try {
      while (!cancelled.is) {
        const { done, value } = await reader.read();
        if (done) break;
        if (value.length > 0) socket.send(encodeFrame(BIN, id, value));
        while (
          !cancelled.is && (socket.buffered?.() ?? 0) > RESPONSE_BACKLOG && socket.isOpen?.() !== false
        ) {
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    } catch { /* the body failed half-way: the CLOSE below ends what was sent */ }
    if (cancelled.is) void reader.cancel().catch(() => {});
  }
  socket.send(encodeFrame(CLOSE, id));
}

/** A request being answered, and how its opening side cancels it. */
interface Cancel {
  is: boolean;
  abort: AbortController;
}

function cancel(c: Cancel): void {
  c.is = true;
  c.abort.abort();
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The accepting side: serves the streams a member opens on its tunnel. route() decides what
 * serves a stream's path (throws a StatusError to refuse it), as for a websocket of its own;
 * requests, when given, serves the requests the member sends on it (and HELLO says so).
 */
export function serveTunnel(
  socket: TunnelSocket,
  route: (path: string) => ((s: TunnelSocket) => void) | Promise<(s: TunnelSocket) => void>,
  requests?: TunnelRequestHandler,
  base = "https://member",
): void {
  const streams = new Map<number, Stream>();
  /**
   * Requests being answered, by stream id: the opening side's CLOSE cancels the answer and
   * aborts the request's signal (a wait whose client went stops waiting, as over HTTPS).
   */
  const answering = new Map<number, Cancel>();
  if (requests) socket.send(encodeFrame(HELLO, 0));
  socket.onMessage((d) => {
    if (typeof d === "string") return;
    const f = decodeFrame(d);
    if (!f) return;
    if (f.kind === REQUEST) {
      if (streams.has(f.id) || answering.has(f.id)) return;
      const r = requests ? decodeRequest(f.payload) : null;
      if (!r) {
        const why = requests
          ? { status: 400, message: "Malformed request on the member tunnel" }
          : { status: 404, message: "This member takes no requests on its tunnel" };
        socket.send(encodeFrame(REFUSED, f.id, JSON.stringify(why)));
        return;
      }
      const cancelled: Cancel = { is: false, abort: new AbortController() };
      answering.set(f.id, cancelled);
      let req: Request;
      try {
        req = new Request(new URL(r.head.path, base), {
          method: r.head.method,
          headers: r.head.headers,
          body: r.body,
          signal: cancelled.abort.signal,
        });
      } catch (e) {
        answering.delete(f.id);
        socket.send(encodeFrame(REFUSED, f.id, JSON.stringify({ status: 400, message: errorText(e) })));
        return;
      }
      void answer(socket, f.id, requests!, req, cancelled).finally(() => answering.delete(f.id));
      return;
    }
    if (f.kind === CLOSE) {
      const a = answering.get(f.id);
      if (a) return cancel(a);
    }
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
    for (const a of answering.values()) cancel(a);
  });
}

interface Pending {
  opened: (u: UpstreamSocket) => void;
  refused: (e: Error) => void;
}

/** A request sent on the tunnel, as its answer arrives. */
interface Call {
  head(h: ResponseHead): void;
  data(d: Uint8Array): void;
  end(): void;
  refused(e: Error): void;
  /** The tunnel went before the answer was complete. */
  lost(): void;
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
  /** Requests sent and not yet fully answered, by stream id. */
  #calls = new Map<number, Call>();
  #open = true;
  #openTimeoutMs: number;
  #hello: (yes: boolean) => void = () => {};
  /** Whether the member takes requests on this tunnel (it said HELLO in time). */
  readonly takesRequests: Promise<boolean>;

  constructor(socket: TunnelSocket, o: { openTimeoutMs?: number; helloTimeoutMs?: number } = {}) {
    this.#socket = socket;
    this.#openTimeoutMs = o.openTimeoutMs ?? OPEN_TIMEOUT_MS;
    this.takesRequests = new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), o.helloTimeoutMs ?? HELLO_TIMEOUT_MS);
      this.#hello = (yes) => {
        clearTimeout(timer);
        resolve(yes);
      };
    });
    socket.onMessage((d) => {
      if (typeof d === "string") return;
      const f = decodeFrame(d);
      if (f) this.#frame(f.kind, f.id, f.payload);
    });
    socket.onClose(() => {
      this.#open = false;
      this.#hello(false);
      for (const p of this.#pending.values()) p.refused(new StatusError(503, "The member tunnel closed"));
      this.#pending.clear();
      for (const s of this.#streams.values()) s.client?.close();
      this.#streams.clear();
      for (const c of this.#calls.values()) c.lost();
      this.#calls.clear();
    });
  }

  get isOpen(): boolean {
    return this.#open && this.#socket.isOpen?.() !== false;
  }

  close(): void {
    this.#socket.close();
  }

  /**
   * Sends one request to the member (once: never again, whatever happens to the tunnel) and
   * resolves with its answer, whose body streams in as the member sends it. Rejects with
   * NotSent when the tunnel was gone before the request left, with a 503 when it broke before
   * the answer came (the request may have taken effect), or with the member's refusal.
   */
  request(head: TunnelRequestHead, body: Uint8Array | null, signal?: AbortSignal): Promise<Response> {
    if (!this.isOpen) return Promise.reject(new NotSent());
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = this.#next++;
    return new Promise<Response>((resolve, reject) => {
      let ctrl: ReadableStreamDefaultController<Uint8Array> | null = null;
      let answered = false;
      const call: Call = {
        head: (h) => {
          answered = true;
          const headers = new Headers(h.headers);
          if (NULL_BODY.has(h.status)) return resolve(new Response(null, { status: h.status, headers }));
          resolve(
            new Response(
              new ReadableStream<Uint8Array>({
                start: (c) => void (ctrl = c),
                cancel: () => {
                  if (!this.#calls.delete(id)) return;
                  if (this.#open) this.#socket.send(encodeFrame(CLOSE, id));
                },
              }),
              { status: h.status, headers },
            ),
          );
        },
        data: (d) => {
          try {
            ctrl?.enqueue(d);
          } catch { /* the reader went */ }
        },
        end: () => {
          try {
            ctrl?.close();
          } catch { /* the reader went */ }
        },
        refused: (e) => reject(e),
        lost: () => {
          if (!answered) {
            return reject(
              new StatusError(
                503,
                "The member tunnel closed before the member answered: the request may or may not have taken effect",
              ),
            );
          }
          try {
            ctrl?.error(new Error("The member tunnel closed before the whole answer came"));
          } catch { /* the reader went */ }
        },
      };
      this.#calls.set(id, call);
      // The caller went: the member stops answering (its request's signal aborts), and so do we.
      signal?.addEventListener("abort", () => {
        if (!this.#calls.delete(id)) return;
        if (this.#open) this.#socket.send(encodeFrame(CLOSE, id));
        if (!answered) reject(signal.reason);
        else {
          try {
            ctrl?.error(signal.reason);
          } catch { /* the reader went */ }
        }
      }, { once: true });
      this.#socket.send(encodeFrame(REQUEST, id, encodeRequest(head, body)));
    });
  }

  #frame(kind: number, id: number, payload: Uint8Array): void {
    if (kind === HELLO) return this.#hello(true);
    const call = this.#calls.get(id);
    if (call) return this.#answer(call, kind, id, payload);
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

  #answer(call: Call, kind: number, id: number, payload: Uint8Array): void {
    if (kind === RESPONSE) {
      let h: ResponseHead = { status: 502, headers: [] };
      try {
        h = JSON.parse(dec.decode(payload));
      } catch { /* keep the 502 */ }
      call.head(h);
    } else if (kind === BIN) call.data(payload.slice());
    else if (kind === CLOSE) {
      this.#calls.delete(id);
      call.end();
    } else if (kind === REFUSED) {
      this.#calls.delete(id);
      let why = { status: 502, message: "The member refused the request" };
      try {
        why = JSON.parse(dec.decode(payload));
      } catch { /* keep the default */ }
      call.refused(new StatusError(why.status, why.message));
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
