import { StatusError } from "../util/mod.ts";

/** Where and as whom a bulk request goes. */
export interface BulkTarget {
  host: string;
  port: number;
  /** The cluster certificate: the only one the member may present (it is its own trust anchor). */
  ca: string;
  /** This member's own certificate and key, presented. */
  cert: string;
  key: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * One HTTP/1.1 request over a TLS connection of its own (Deno's rustls), for transfers of any
 * size: the body is written as the client's stream yields it, and the answer is read from the
 * socket only as fast as the caller reads it, so neither sits in this member's memory. Node's
 * https client (proxy.ts, for everything small) does not always hold back: a reader that paused
 * after 1 MiB of a 100 MiB pull saw the forwarding member grow by 56 MiB.
 */
export async function bulkRequest(
  t: BulkTarget,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: ReadableStream<Uint8Array> | null,
): Promise<Response> {
  const conn = await Deno.connectTls({
    hostname: t.host,
    port: t.port,
    caCerts: [t.ca],
    cert: t.cert,
    key: t.key,
    // The member's certificate names its own address only; it is pinned by being the sole anchor.
    unsafelyDisableHostnameVerification: true,
  } as Deno.ConnectTlsOptions);
  const chunked = body !== null && headers["content-length"] === undefined;
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${t.host}:${t.port}`, "Connection: close"];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  if (chunked) lines.push("Transfer-Encoding: chunked");
  else if (body === null && ["POST", "PUT", "PATCH"].includes(method)) lines.push("Content-Length: 0");
  try {
    await writeAll(conn, enc.encode(lines.join("\r\n") + "\r\n\r\n"));
  } catch (e) {
    conn.close();
    throw e;
  }
  // The body goes out while the answer is awaited: a member may answer before reading it all.
  void (async () => {
    if (!body) return;
    for await (const chunk of body) {
      if (chunk.length === 0) continue;
      if (chunked) await writeAll(conn, enc.encode(`${chunk.length.toString(16)}\r\n`));
      await writeAll(conn, chunk);
      if (chunked) await writeAll(conn, enc.encode("\r\n"));
    }
    if (chunked) await writeAll(conn, enc.encode("0\r\n\r\n"));
  })().catch(() => {/* the answer, or its absence, tells */});
  const r = new Reader(conn);
  let head: { status: number; headers: Headers };
  try {
    head = parseHead(await r.head());
  } catch (e) {
    close(conn);
    throw e;
  }
  const length = head.headers.get("content-length");
  const isChunked = /chunked/i.test(head.headers.get("transfer-encoding") ?? "");
  head.headers.delete("transfer-encoding");
  head.headers.delete("connection");
  if (method === "HEAD" || head.status === 204 || head.status === 304) {
    close(conn);
    return new Response(null, { status: head.status, headers: head.headers });
  }
  const next = isChunked ? r.chunked() : r.sized(length === null ? Infinity : Number(length));
  const stream = new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      try {
        const { value, done } = await next.next();
        if (done) {
          ctrl.close();
          close(conn);
        } else ctrl.enqueue(value);
      } catch (e) {
        ctrl.error(e);
        close(conn);
      }
    },
    cancel() {
      close(conn);
    },
  }, { highWaterMark: 0 });
  return new Response(stream, { status: head.status, headers: head.headers });
}

function close(conn: Deno.TlsConn): void {
  try {
    conn.close();
  } catch { /* closed already */ }
}

async function writeAll(conn: Deno.TlsConn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

function parseHead(text: string): { status: number; headers: Headers } {
  const [statusLine, ...rest] = text.split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "");
  if (!m) {
    throw new StatusError(
      502,
      `A member answered with something other than HTTP: ${statusLine?.slice(0, 80)}`,
    );
  }
  const headers = new Headers();
  for (const line of rest) {
    const i = line.indexOf(":");
    if (i > 0) headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return { status: Number(m[1]), headers };
}

/** Reads a connection on demand: the head, then a body by length or in chunks. */
class Reader {
  #conn: Deno.TlsConn;
  #buf = new Uint8Array(0);
  #eof = false;

  constructor(conn: Deno.TlsConn) {
    this.#conn = conn;
  }

  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    const b = new Uint8Array(64 * 1024);
    const n = await this.#conn.read(b);
    if (n === null) {
      this.#eof = true;
      return false;
    }
    if (this.#buf.length === 0) {
      this.#buf = b.subarray(0, n);
      return true;
    }
    const all = new Uint8Array(this.#buf.length + n);
    all.set(this.#buf);
    all.set(b.subarray(0, n), this.#buf.length);
    this.#buf = all;
    return true;
  }

  #take(n: number): Uint8Array {
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  async #line(): Promise<string> {
    for (;;) {
      const i = this.#buf.indexOf(10);
      if (i >= 0) return dec.decode(this.#take(i + 1)).replace(/\r?\n$/, "");
      if (this.#buf.length > 64 * 1024) throw new StatusError(502, "A member's answer has an overlong line");
      if (!(await this.#fill())) throw new StatusError(502, "A member closed the connection mid-answer");
    }
  }

  /** The status line and headers, without the blank line. */
  async head(): Promise<string> {
    const lines: string[] = [];
    for (;;) {
      const l = await this.#line();
      if (l === "") return lines.join("\r\n");
      lines.push(l);
      if (lines.length > 200) throw new StatusError(502, "A member's answer has too many headers");
    }
  }

  /** A body of n bytes (Infinity: until the connection closes). */
  async *sized(n: number): AsyncGenerator<Uint8Array> {
    let left = n;
    while (left > 0) {
      if (this.#buf.length === 0 && !(await this.#fill())) {
        if (left === Infinity) return;
        throw new StatusError(502, "A member closed the connection before the whole answer");
      }
      const part = this.#take(Math.min(left, this.#buf.length));
      left -= part.length;
      yield part;
    }
  }

  /** A chunked body, decoded. */
  async *chunked(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const size = parseInt((await this.#line()).split(";")[0]!.trim(), 16);
      if (!Number.isFinite(size)) throw new StatusError(502, "A member's chunked answer is malformed");
      if (size === 0) {
        while ((await this.#line()) !== "") { /* trailers */ }
        return;
      }
      yield* this.sized(size);
      await this.#line();
    }
  }
}
