/**
 * HTTP/1.1 requests over a unix socket, written and read here on Deno.connect: one on a
 * connection of its own (unixRequest, `Connection: close`), or many on kept-alive connections
 * (UnixConnections; KeptConnections over any ByteConn: HTTPS with tls_conn.ts). Why not fetch: Deno loads its fetch implementation (and a hyper client per
 * Deno.createHttpClient) on first use, ~10 ms of CPU of every command that asks the daemon one
 * question over its socket (`shoal list` spent a quarter of its start there). What it speaks is
 * the little our daemon answers with: a status line, headers, and a body by Content-Length,
 * chunked, or up to the close.
 * @module
 */

/** A raw HTTP answer (as transport.ts's RawResponse). */
export interface UnixAnswer {
  status: number;
  /** Made when first asked for (a Headers costs ~3 us of every request: CPU profile of the bench's client). */
  headers: Headers;
  text: string;
  /** A header's value by its lower-case name (as headers.get), without making headers. */
  header(name: string): string | null;
}

const CRLF2 = new Uint8Array([13, 10, 13, 10]);
// One of each for the module: the answers are decoded whole (a split character never spans two calls).
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** A kept-alive connection's read buffer: made once per connection, not per request. */
const BUFFER = 64 * 1024;
/** A kept-alive connection's buffer for requests (bigger ones are encoded apart). */
const OUT = 16 * 1024;

function indexOf(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i <= hay.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * The body of a chunked message if all of it is in buf (null while more must come), and how
 * many bytes of buf it took: chunk sizes in hex, each chunk followed by CRLF, a zero-size
 * chunk and optional trailers, then an empty line, to end.
 */
export function dechunk(buf: Uint8Array): { body: Uint8Array; taken: number } | null {
  const CRLF = CRLF2.subarray(0, 2);
  const parts: Uint8Array[] = [];
  let at = 0;
  for (;;) {
    const eol = indexOf(buf, CRLF, at);
    if (eol < 0) return null;
    const line = decoder.decode(buf.subarray(at, eol)).split(";")[0]!.trim();
    if (!/^[0-9a-fA-F]+$/.test(line)) {
      throw new Error(`malformed chunk size "${line}" in the daemon's answer`);
    }
    const size = parseInt(line, 16);
    if (size === 0) {
      // Trailers (none from our daemon), one a line, up to an empty line.
      for (let t = eol + 2;;) {
        const end = indexOf(buf, CRLF, t);
        if (end < 0) return null;
        if (end === t) return { body: joinParts(parts), taken: end + 2 };
        t = end + 2;
      }
    }
    if (buf.length < eol + 2 + size + 2) return null;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

function joinParts(parts: Uint8Array[]): Uint8Array {
  return parts.reduce((a, b) => concat(a, b), new Uint8Array());
}

/** A whole answer as parseAnswer reads it, and whether its connection may carry another request. */
export interface ParsedAnswer extends UnixAnswer {
  /** Framed by its length (or chunks), HTTP/1.1, nothing after it and no "Connection: close". */
  reusable: boolean;
}

/** Parses what has arrived; null until the whole answer is there (ended: the peer closed). */
export function parseAnswer(buf: Uint8Array, method: string, ended: boolean): ParsedAnswer | null {
  const end = indexOf(buf, CRLF2);
  if (end < 0) {
    if (ended) throw new Error("the daemon closed the connection before its answer's headers");
    return null;
  }
  const lines = decoder.decode(buf.subarray(0, end)).split("\r\n");
  const statusLine = lines[0]!;
  const m = /^HTTP\/1\.([01]) (\d{3})/.exec(statusLine);
  if (!m) throw new Error(`malformed status line "${statusLine}" in the daemon's answer`);
  const status = Number(m[2]);
  // Names (lower case) and values, in order; the Headers only if a caller asks for them.
  const pairs: [string, string][] = [];
  for (let k = 1; k < lines.length; k++) {
    const l = lines[k]!;
    const i = l.indexOf(":");
    if (i > 0) pairs.push([l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()]);
  }
  // As Headers.get: every value of that name, joined.
  const header = (name: string): string | null => {
    let v: string | null = null;
    for (const [k, x] of pairs) if (k === name) v = v === null ? x : `${v}, ${x}`;
    return v;
  };
  const rest = buf.subarray(end + 4);
  let body: Uint8Array | null;
  /** Bytes of rest the answer takes (-1: up to the close). */
  let taken = -1;
  if (method === "HEAD" || status === 204 || status === 304 || status < 200) {
    body = new Uint8Array();
    taken = 0;
  } else if (/\bchunked\b/i.test(header("transfer-encoding") ?? "")) {
    const d = dechunk(rest);
    body = d?.body ?? null;
    taken = d?.taken ?? -1;
  } else if (header("content-length") !== null) {
    const n = Number(header("content-length"));
    body = rest.length >= n ? rest.subarray(0, n) : null;
    taken = n;
  } else body = ended ? rest : null;
  if (body === null) {
    if (ended) throw new Error("the daemon closed the connection before the end of its answer");
    return null;
  }
  const reusable = !ended && m[1] === "1" && taken === rest.length &&
    !/\bclose\b/i.test(header("connection") ?? "");
  let made: Headers | undefined;
  return {
    status,
    get headers(): Headers {
      if (made) return made;
      made = new Headers();
      for (const [k, v] of pairs) made.append(k, v);
      return made;
    },
    header,
    text: decoder.decode(body),
    reusable,
  };
}

/**
 * The request as it goes on the wire: head, then body; in `into` (a connection's own buffer for
 * what it sends, free once the previous request's write is done) when it fits, which saves an
 * ArrayBuffer per request.
 */
function encodeRequest(
  method: string,
  path: string,
  body: string | undefined,
  headers: Record<string, string>,
  keepAlive: boolean,
  host = "shoal",
  into?: Uint8Array,
): Uint8Array {
  let head = `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n${keepAlive ? "" : "Connection: close\r\n"}`;
  let accept = false, agent = false, type = false;
  for (const k in headers) {
    const lower = k.toLowerCase();
    if (lower === "host" || lower === "connection" || lower === "content-length") continue;
    head += `${k}: ${headers[k]}\r\n`;
    if (lower === "accept") accept = true;
    else if (lower === "user-agent") agent = true;
    else if (lower === "content-type") type = true;
  }
  // What fetch adds when the caller does not say (the server sees the same request).
  if (!accept) head += "Accept: */*\r\n";
  if (!agent) head += `User-Agent: Deno/${Deno.version.deno}\r\n`;
  if (body === undefined) {
    if (!NO_BODY.has(method)) head += "Content-Length: 0\r\n";
    return encodeText(`${head}\r\n`, into);
  }
  if (!type) head += "Content-Type: text/plain;charset=UTF-8\r\n";
  // Head and body in one encoding (no copy to join them): the body's length in bytes is its
  // length in characters when all are ASCII, as JSON from JSON.stringify almost always is.
  if (!NOT_ASCII.test(body)) return encodeText(`${head}Content-Length: ${body.length}\r\n\r\n${body}`, into);
  const payload = encoder.encode(body);
  return concat(encoder.encode(`${head}Content-Length: ${payload.length}\r\n\r\n`), payload);
}

function encodeText(text: string, into: Uint8Array | undefined): Uint8Array {
  if (into && text.length <= into.length) {
    const r = encoder.encodeInto(text, into);
    if (r.read === text.length) return into.subarray(0, r.written);
  }
  return encoder.encode(text);
}

/** Methods that send no Content-Length when they carry no body (as fetch). */
const NO_BODY = new Set(["GET", "HEAD", "OPTIONS", "DELETE"]);
/** Any character outside ASCII (a UTF-16 unit of 0x80 or more: surrogates too). */
const NOT_ASCII = /[\u0080-\uffff]/;

async function connect(socket: string): Promise<Deno.UnixConn> {
  try {
    return await Deno.connect({ transport: "unix", path: socket });
  } catch (e) {
    throw new Error(
      `Failed to connect to the daemon's socket ${socket}: ${e instanceof Error ? e.message : e} ` +
        `(is shoald running, and SHOAL_DIR the directory it runs in?)`,
    );
  }
}

/** A byte stream as Deno's connections are (Deno.UnixConn is one; tls_conn.ts makes one of node:tls). */
export interface ByteConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
  /** Whether it keeps the program running (an idle kept-alive connection does not). */
  ref(): void;
  unref(): void;
}

function closeQuietly(conn: ByteConn): void {
  try {
    conn.close();
  } catch { /* closed already (an abort, the daemon) */ }
}

/** The request was not delivered: not a byte of it left (its connection had been closed). */
class NotDelivered extends Error {}

/**
 * One request and its answer on conn, read into buf from its start (grown while the answer
 * does not fit: the answer's bytes are gathered in one place, never copied per read). first:
 * the read already pending on a kept-alive connection (its watch), into buf, which takes the
 * answer's first bytes. Resolves with the answer and the buffer that holds it, or rejects
 * (NotDelivered when the first write took nothing).
 */
async function exchange(
  conn: ByteConn,
  request: Uint8Array,
  method: string,
  buf: Uint8Array,
  first: Promise<number | null> | null,
): Promise<{ answer: ParsedAnswer; buf: Uint8Array }> {
  for (let sent = 0; sent < request.length;) {
    try {
      sent += await conn.write(request.subarray(sent));
    } catch (e) {
      if (sent === 0) throw new NotDelivered(e instanceof Error ? e.message : String(e));
      throw e;
    }
  }
  let filled = 0;
  let pending = first;
  for (;;) {
    if (filled === buf.length) {
      const grown = new Uint8Array(buf.length * 2);
      grown.set(buf);
      buf = grown;
    }
    const n = pending ? await pending : await conn.read(buf.subarray(filled));
    pending = null;
    if (n !== null) filled += n;
    const answer = parseAnswer(buf.subarray(0, filled), method, n === null);
    if (answer) return { answer, buf };
  }
}

/** Sends one request over the socket at `socket`, on a connection of its own, and reads its whole answer. */
export async function unixRequest(
  socket: string,
  method: string,
  path: string,
  body: string | undefined,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<UnixAnswer> {
  signal?.throwIfAborted();
  const conn = await connect(socket);
  try {
    const request = encodeRequest(method, path, body, headers, false);
    const { answer } = await abortable(
      exchange(conn, request, method, new Uint8Array(BUFFER), null),
      conn,
      signal,
    );
    return answer;
  } finally {
    closeQuietly(conn);
  }
}

/** Races p with signal: an abort closes conn (which ends p too) and rejects with its reason. */
function abortable<T>(p: Promise<T>, conn: ByteConn, signal?: AbortSignal): Promise<T> {
  return signal ? raceAbort(p, conn, signal) : p;
}

async function raceAbort<T>(p: Promise<T>, conn: ByteConn, signal: AbortSignal): Promise<T> {
  const aborted = Promise.withResolvers<never>();
  const onAbort = () => {
    aborted.reject(signal.reason);
    closeQuietly(conn);
  };
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await Promise.race([p, aborted.promise]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** A kept-alive connection between requests. */
interface Idle {
  conn: ByteConn;
  /** When it went idle (ms since epoch). */
  since: number;
  /**
   * The read pending while it is idle: it ends if the daemon closes the connection (then it is
   * dropped), and once the connection is taken again it reads the next answer's first bytes.
   */
  read: Promise<number | null>;
  /** Its read buffer, which the pending read fills from the start. */
  buf: Uint8Array;
  /** Its buffer for what it sends. */
  out: Uint8Array;
  taken: boolean;
  gone: boolean;
}

/**
 * Requests on kept-alive connections, as lxc's Go client makes them: over the daemon's unix
 * socket a connection per request cost a connect, the daemon's accept and its HTTP connection
 * set-up each time (bench/replication.ts), over HTTPS a TLS handshake. A request is sent once,
 * never again, on whatever connection: a change could otherwise take effect twice
 * (transport_test.ts). The one case a request goes again is when not a byte of it left, on a
 * kept-alive connection the server had closed (an idle connection's pending read sees the close
 * first, almost always); a read (GET) whose kept-alive connection closed before any answer goes
 * again too, since it changes nothing.
 */
export class KeptConnections {
  #idle: Idle[] = [];
  #closed = false;

  /** dial opens a connection; host is the Host header sent. */
  constructor(
    readonly dial: () => Promise<ByteConn>,
    readonly o: { host: string; maxIdle: number; idleMs: number },
  ) {}

  async request(
    method: string,
    path: string,
    body: string | undefined,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<UnixAnswer> {
    signal?.throwIfAborted();
    for (;;) {
      const kept = this.#take();
      const conn = kept?.conn ?? await this.dial();
      const out = kept?.out ?? new Uint8Array(OUT);
      const request = encodeRequest(method, path, body, headers, true, this.o.host, out);
      conn.ref(); // a request in flight keeps the program running; an idle connection does not
      let answer: ParsedAnswer, buf: Uint8Array;
      try {
        const first = kept?.read ?? null;
        ({ answer, buf } = await abortable(
          exchange(conn, request, method, kept?.buf ?? new Uint8Array(BUFFER), first),
          conn,
          signal,
        ));
      } catch (e) {
        closeQuietly(conn);
        const again = kept !== null && !signal?.aborted &&
          (e instanceof NotDelivered || (READS.has(method) && isClosedEarly(e)));
        if (again) continue;
        throw e instanceof NotDelivered ? new Error(`Failed to send the request: ${e.message}`) : e;
      }
      // A buffer grown for a big answer is not kept with the connection.
      if (answer.reusable && !signal?.aborted) {
        this.#keep(conn, buf.length > BUFFER ? new Uint8Array(BUFFER) : buf, out);
      } else closeQuietly(conn);
      return answer;
    }
  }

  /** The most recently used idle connection that is still good, or null. */
  #take(): Idle | null {
    const now = Date.now();
    for (let k = this.#idle.pop(); k; k = this.#idle.pop()) {
      if (!k.gone && now - k.since < this.o.idleMs) {
        k.taken = true;
        return k;
      }
      k.gone = true;
      closeQuietly(k.conn);
    }
    return null;
  }

  #keep(conn: ByteConn, buf: Uint8Array, out: Uint8Array): void {
    if (this.#closed || this.#idle.length >= this.o.maxIdle) return closeQuietly(conn);
    conn.unref();
    const k: Idle = { conn, since: Date.now(), buf, out, read: conn.read(buf), taken: false, gone: false };
    // Whatever ends the read while nobody asked (the daemon closed it, or sent what nobody
    // asked for) ends the connection.
    const idleEnd = () => {
      if (k.taken) return;
      k.gone = true;
      closeQuietly(conn);
      this.#idle = this.#idle.filter((i) => i !== k);
    };
    k.read.then(idleEnd, idleEnd);
    this.#idle.push(k);
  }

  /** Closes the idle connections; requests in flight finish on theirs. */
  close(): void {
    this.#closed = true;
    for (const k of this.#idle.splice(0)) {
      k.gone = true;
      closeQuietly(k.conn);
    }
  }
}

/** Kept-alive connections to the daemon's unix socket. */
export class UnixConnections extends KeptConnections {
  constructor(readonly socket: string) {
    super(() => connect(socket), { host: "shoal", maxIdle: 8, idleMs: 20_000 });
  }
}

const READS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The daemon closed the connection before any of its answer. */
function isClosedEarly(e: unknown): boolean {
  return e instanceof Error && /before its answer's headers/.test(e.message);
}
