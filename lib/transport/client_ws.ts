import tls from "node:tls";
import { pinnedIdentity } from "../client/mod.ts";

/** Where a member's websocket goes, and the certificates of both ends. */
export interface WsClientOptions {
  /** host:port of the other member ([v6]:port for IPv6). */
  address: string;
  /** Path of the stream on it. */
  path: string;
  /** The cluster certificate (PEM): the only one the other member may show. */
  ca: string;
  /** Its fingerprint (sha256 hex), compared during the TLS handshake, before anything is sent. */
  pin: string;
  /** This member's own certificate and key, presented. */
  cert: string;
  key: string;
  /** How long connecting, TLS and the upgrade may take together; default 5 s. */
  handshakeTimeoutMs?: number;
  /** Largest message taken from the other side; a larger one closes the stream (1009). Default 100 MiB. */
  maxMessageBytes?: number;
}

/** What the owner of a stream hears: open once, then messages, then close once (also for a failed open). */
export interface WsClientHandlers {
  onOpen?(): void;
  onMessage?(data: string | Uint8Array): void;
  /** Exactly once: err is absent on an orderly close. `opened` says whether onOpen ran before. */
  onClose?(err: Error | undefined, opened: boolean): void;
}

export type WsClientState = "connecting" | "open" | "closing" | "closed";

/** A client websocket to another member. */
export interface WsClient {
  readonly state: WsClientState;
  /** Queues one message (string: text, bytes: binary); never waits. Throws unless open. */
  send(data: string | Uint8Array): void;
  /** Closes at once, without a closing handshake; onClose runs (with no error) if it had not. */
  terminate(): void;
}

/**
 * Opens a websocket to another member: RFC 6455's client side written out here, on a node:tls
 * socket with the cluster certificate as its only CA and its fingerprint compared during the
 * handshake (as npm ws was given before), this member's own certificate presented, Nagle off.
 *
 * Why not npm ws: its send cost 63-74 us inside a daemon (its Sender builds the header and
 * payload as two buffers, corks the socket, and uncork runs them through Socket._writev), on
 * every Raft message and forwarded call of a commit. Here a send builds one masked frame and
 * makes one socket.write.
 *
 * Why not Deno.connectTls (rustls, no node streams at all; tried first): its socket keeps
 * Nagle's algorithm on and Deno offers no way to turn it off on a TLS connection (TlsConn has
 * no setNoDelay; Deno.startTls, which takes a TcpConn that has one, cannot present a client
 * certificate). A small frame sent while the previous one is unacknowledged then waits for the
 * server's delayed ACK: a frame sent 2 ms after another took 39 ms to be answered (every time),
 * and PATCH /1.0 through a follower at 16 clients fell from ~1,600 to 796 tx/s with p90 52 ms.
 * It would also refuse a CA:TRUE cluster certificate (rustls: CaUsedAsEndEntity, STACK.md §3),
 * which `shoal cluster update-certificate` may install; node:tls takes it.
 */
export function connectWs(o: WsClientOptions, h: WsClientHandlers): WsClient {
  return new TlsWsClient(o, h);
}

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const enc = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Random bytes for masks, drawn 4 KiB at a time (one getRandomValues per 1,024 frames). */
let pool = new Uint8Array(0);
let poolAt = 0;
function maskBytes(): Uint8Array {
  if (poolAt + 4 > pool.length) {
    pool = crypto.getRandomValues(new Uint8Array(4096));
    poolAt = 0;
  }
  poolAt += 4;
  return pool.subarray(poolAt - 4, poolAt);
}

/** One masked client frame (RFC 6455 §5.2): fin set, opcode, payload. */
export function clientFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const f = new Uint8Array(head + 4 + n);
  f[0] = 0x80 | opcode;
  if (n < 126) f[1] = 0x80 | n;
  else if (n < 65536) {
    f[1] = 0x80 | 126;
    f[2] = n >>> 8;
    f[3] = n & 0xff;
  } else {
    f[1] = 0x80 | 127;
    new DataView(f.buffer).setBigUint64(2, BigInt(n));
  }
  const m = maskBytes();
  f.set(m, head);
  const at = head + 4;
  const m0 = m[0]!, m1 = m[1]!, m2 = m[2]!, m3 = m[3]!;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    f[at + i] = payload[i]! ^ m0;
    f[at + i + 1] = payload[i + 1]! ^ m1;
    f[at + i + 2] = payload[i + 2]! ^ m2;
    f[at + i + 3] = payload[i + 3]! ^ m3;
  }
  for (; i < n; i++) f[at + i] = payload[i]! ^ m[i & 3]!;
  return f;
}

function splitAddress(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (!m) throw new Error(`Invalid member address "${address}": expected host:port`);
  return { host: m[1]!, port: Number(m[2]) };
}

function concat(parts: Uint8Array[], total?: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total ?? parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The client websocket on a node:tls socket. */
class TlsWsClient implements WsClient {
  #o: WsClientOptions;
  #h: WsClientHandlers;
  #state: WsClientState = "connecting";
  #socket: tls.TLSSocket | null = null;
  #opened = false;
  #done = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #key = "";
  /** Bytes read and not parsed yet; chunks read since are joined once, when a frame needs them. */
  #pending: Uint8Array = new Uint8Array(0);
  #chunks: Uint8Array[] = [];
  #have = 0;
  /** Bytes the next parse needs (a frame's header, then the frame whole). */
  #need = 1;
  #frag: Uint8Array[] | null = null;
  #fragOp = 0;
  #fragBytes = 0;
  #max: number;

  constructor(o: WsClientOptions, h: WsClientHandlers) {
    this.#o = o;
    this.#h = h;
    this.#max = o.maxMessageBytes ?? 100 * 1024 * 1024;
    this.#timer = setTimeout(
      () => this.#finish(new Error(`Opening a stream to ${o.address} timed out`)),
      o.handshakeTimeoutMs ?? 5_000,
    );
    let socket: tls.TLSSocket;
    try {
      const { host, port } = splitAddress(o.address);
      socket = this.#socket = tls.connect({
        host,
        port,
        ca: o.ca,
        cert: o.cert,
        key: o.key,
        // The member's certificate names its own address only: the fingerprint pins it instead.
        checkServerIdentity: pinnedIdentity(o.pin),
      });
    } catch (e) {
      // Reported as any failed open is, never from inside connectWs (its caller is not ready).
      queueMicrotask(() => this.#finish(e instanceof Error ? e : new Error(String(e))));
      return;
    }
    socket.setNoDelay(true);
    socket.on("secureConnect", () => this.#upgrade());
    socket.on("data", (d: Uint8Array) => this.#data(d));
    socket.on("error", (e: Error) => this.#finish(e));
    socket.on("close", () => {
      this.#finish(
        this.#state === "closing" ? undefined : new Error(
          this.#opened
            ? `${o.address} closed the connection without a close frame`
            : `${o.address} closed the connection before it upgraded`,
        ),
      );
    });
  }

  get state(): WsClientState {
    return this.#state;
  }

  send(data: string | Uint8Array): void {
    if (this.#state !== "open") throw new Error(`The stream to ${this.#o.address} is ${this.#state}`);
    this.#socket!.write(typeof data === "string" ? clientFrame(1, enc.encode(data)) : clientFrame(2, data));
  }

  terminate(): void {
    this.#finish(undefined);
  }

  #upgrade(): void {
    if (this.#done) return;
    const o = this.#o;
    this.#key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    this.#socket!.write(
      `GET ${o.path} HTTP/1.1\r\nHost: ${o.address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${this.#key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
  }

  #data(d: Uint8Array): void {
    if (this.#done) return;
    this.#chunks.push(d);
    this.#have += d.length;
    if (this.#pending.length + this.#have < this.#need) return;
    this.#pending = concat(
      this.#pending.length > 0 ? [this.#pending, ...this.#chunks] : this.#chunks,
      this.#pending.length + this.#have,
    );
    this.#chunks = [];
    this.#have = 0;
    if (this.#state === "open") return this.#parse();
    if (this.#state !== "connecting" || this.#checking) return;
    this.#checking = true;
    this.#checkHead().then((ok) => {
      this.#checking = false;
      if (this.#done || !ok) return;
      clearTimeout(this.#timer);
      this.#state = "open";
      this.#opened = true;
      this.#need = 2;
      this.#h.onOpen?.();
      this.#parse();
    }, (e) => this.#finish(e instanceof Error ? e : new Error(String(e))));
  }

  /** Whether the answer to the upgrade is being checked (the accept key is an async digest). */
  #checking = false;

  /** The answer to the upgrade: 101, and the accept key that proves a websocket server read ours. */
  async #checkHead(): Promise<boolean> {
    const o = this.#o;
    const end = headEnd(this.#pending);
    if (end < 0) {
      if (this.#pending.length > 16 * 1024) throw new Error(`${o.address} answered with an oversized header`);
      return false;
    }
    const head = new TextDecoder().decode(this.#pending.subarray(0, end));
    this.#pending = this.#pending.slice(end + 4);
    const [status, ...lines] = head.split("\r\n");
    if (!/^HTTP\/1\.1 101\b/.test(status ?? "")) {
      throw new Error(`${o.address} refused the stream on ${o.path}: ${status}`);
    }
    const headers = new Map(lines.map((l) => {
      const i = l.indexOf(":");
      return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()] as const;
    }));
    const want = btoa(String.fromCharCode(
      ...new Uint8Array(await crypto.subtle.digest("SHA-1", enc.encode(this.#key + GUID))),
    ));
    if (
      headers.get("sec-websocket-accept") !== want || headers.get("upgrade")?.toLowerCase() !== "websocket"
    ) {
      throw new Error(`${o.address} answered the upgrade without a valid Sec-WebSocket-Accept`);
    }
    return true;
  }

  /** Frames from the server: unmasked, maybe fragmented, control frames in between. */
  #parse(): void {
    const max = this.#max;
    while (!this.#done && this.#state === "open") {
      const f = parseFrame(this.#pending, max);
      if (f.kind === "more") {
        this.#need = f.need;
        return;
      }
      if (f.kind === "error") return this.#protocolError(f.code, f.message);
      this.#pending = this.#pending.subarray(f.size);
      this.#need = 2;
      const op = f.opcode;
      if (op >= 8) {
        if (op === 8) return this.#closed(f.payload);
        if (op === 9) this.#socket!.write(clientFrame(10, f.payload));
        continue; // pong: nothing asked for it
      }
      if (op === 0) {
        if (!this.#frag) return this.#protocolError(1002, "a continuation frame with nothing to continue");
        this.#fragBytes += f.payload.length;
        if (this.#fragBytes > max) return this.#protocolError(1009, `a message over ${max} bytes`);
        this.#frag.push(f.payload);
        if (!f.fin) continue;
        const whole = concat(this.#frag, this.#fragBytes);
        this.#frag = null;
        this.#deliver(this.#fragOp, whole);
        continue;
      }
      if (op !== 1 && op !== 2) return this.#protocolError(1002, `an unknown opcode ${op}`);
      if (this.#frag) return this.#protocolError(1002, "a new message inside a fragmented one");
      if (!f.fin) {
        this.#frag = [f.payload];
        this.#fragOp = op;
        this.#fragBytes = f.payload.length;
        continue;
      }
      this.#deliver(op, f.payload);
    }
  }

  #deliver(op: number, payload: Uint8Array): void {
    if (op === 2) return this.#h.onMessage?.(new Uint8Array(payload));
    let text: string;
    try {
      text = utf8.decode(payload);
    } catch {
      return this.#protocolError(1007, "a text message that is not UTF-8");
    }
    this.#h.onMessage?.(text);
  }

  /** The server closed: answer with its code (RFC 6455 §5.5.1), then end the connection. */
  #closed(payload: Uint8Array): void {
    this.#state = "closing";
    this.#socket!.end(clientFrame(8, payload.subarray(0, 2)));
    // The server closes the TCP connection after our answer; "close" then reports it. A server
    // that does not is not waited for long.
    setTimeout(() => this.#finish(undefined), 1_000);
  }

  #protocolError(code: number, why: string): void {
    const err = new Error(`${this.#o.address} sent ${why}`);
    const p = new Uint8Array(2);
    p[0] = code >>> 8;
    p[1] = code & 0xff;
    this.#socket?.end(clientFrame(8, p));
    this.#finish(err, false);
  }

  /** Ends the connection and tells the owner, once. destroy: at once (else after what is written). */
  #finish(err: Error | undefined, destroy = true): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    this.#state = "closed";
    if (destroy) this.#socket?.destroy();
    else setTimeout(() => this.#socket?.destroy(), 1_000);
    this.#h.onClose?.(err, this.#opened);
  }
}

function headEnd(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}

type Frame =
  | { kind: "frame"; fin: boolean; opcode: number; payload: Uint8Array; size: number }
  | { kind: "more"; need: number }
  | { kind: "error"; code: number; message: string };

/**
 * Parses one server frame at the start of b, or says how many bytes it needs. A frame over max is
 * refused from its header, before its payload is read.
 */
export function parseFrame(b: Uint8Array, max: number): Frame {
  if (b.length < 2) return { kind: "more", need: 2 };
  const fin = (b[0]! & 0x80) !== 0;
  const opcode = b[0]! & 0x0f;
  if ((b[0]! & 0x70) !== 0) return { kind: "error", code: 1002, message: "a frame with reserved bits set" };
  if ((b[1]! & 0x80) !== 0) return { kind: "error", code: 1002, message: "a masked frame" };
  let length = b[1]! & 0x7f;
  let at = 2;
  if (length === 126) {
    if (b.length < 4) return { kind: "more", need: 4 };
    length = (b[2]! << 8) | b[3]!;
    at = 4;
  } else if (length === 127) {
    if (b.length < 10) return { kind: "more", need: 10 };
    const big = new DataView(b.buffer, b.byteOffset + 2, 8).getBigUint64(0);
    length = big > BigInt(max) ? Infinity : Number(big);
    at = 10;
  }
  if (opcode >= 8 && (!fin || length > 125)) {
    return { kind: "error", code: 1002, message: "a fragmented or oversized control frame" };
  }
  if (length > max) return { kind: "error", code: 1009, message: `a message over ${max} bytes` };
  if (b.length < at + length) return { kind: "more", need: at + length };
  return { kind: "frame", fin, opcode, payload: b.subarray(at, at + length), size: at + length };
}
