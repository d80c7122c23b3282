/**
 * One HTTP/1.1 request over a unix socket, on a connection of its own (`Connection: close`),
 * written and read here on Deno.connect. Why not fetch: Deno loads its fetch implementation
 * (and a hyper client per Deno.createHttpClient) on first use, ~10 ms of CPU of every command
 * that asks the daemon one question over its socket (`shoal list` spent a quarter of its start
 * there); a unix connection costs ~0.1 ms. What it speaks is the little our daemon answers with:
 * a status line, headers, and a body by Content-Length, chunked, or up to the close.
 * @module
 */

/** A raw HTTP answer (as transport.ts's RawResponse). */
export interface UnixAnswer {
  status: number;
  headers: Headers;
  text: string;
}

const CRLF2 = new Uint8Array([13, 10, 13, 10]);

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
 * The body of a chunked message if all of it is in buf (null while more must come): chunk
 * sizes in hex, each chunk followed by CRLF, a zero-size chunk and optional trailers to end.
 */
export function dechunk(buf: Uint8Array): Uint8Array | null {
  const parts: Uint8Array[] = [];
  let at = 0;
  for (;;) {
    const eol = indexOf(buf, CRLF2.subarray(0, 2), at);
    if (eol < 0) return null;
    const line = new TextDecoder().decode(buf.subarray(at, eol)).split(";")[0]!.trim();
    if (!/^[0-9a-fA-F]+$/.test(line)) {
      throw new Error(`malformed chunk size "${line}" in the daemon's answer`);
    }
    const size = parseInt(line, 16);
    if (size === 0) {
      // Trailers (none from our daemon) end with an empty line.
      return indexOf(buf, CRLF2.subarray(0, 2), eol + 2) < 0 ? null : joinParts(parts);
    }
    if (buf.length < eol + 2 + size + 2) return null;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

function joinParts(parts: Uint8Array[]): Uint8Array {
  return parts.reduce((a, b) => concat(a, b), new Uint8Array());
}

/** Parses what has arrived; null until the whole answer is there (ended: the peer closed). */
export function parseAnswer(buf: Uint8Array, method: string, ended: boolean): UnixAnswer | null {
  const end = indexOf(buf, CRLF2);
  if (end < 0) {
    if (ended) throw new Error("the daemon closed the connection before its answer's headers");
    return null;
  }
  const [statusLine, ...lines] = new TextDecoder().decode(buf.subarray(0, end)).split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "");
  if (!m) throw new Error(`malformed status line "${statusLine}" in the daemon's answer`);
  const status = Number(m[1]);
  const headers = new Headers();
  for (const l of lines) {
    const i = l.indexOf(":");
    if (i > 0) headers.append(l.slice(0, i).trim(), l.slice(i + 1).trim());
  }
  const rest = buf.subarray(end + 4);
  let body: Uint8Array | null;
  if (method === "HEAD" || status === 204 || status === 304 || status < 200) body = new Uint8Array();
  else if (/\bchunked\b/i.test(headers.get("transfer-encoding") ?? "")) body = dechunk(rest);
  else if (headers.has("content-length")) {
    const n = Number(headers.get("content-length"));
    body = rest.length >= n ? rest.subarray(0, n) : null;
  } else body = ended ? rest : null;
  if (body === null) {
    if (ended) throw new Error("the daemon closed the connection before the end of its answer");
    return null;
  }
  return { status, headers, text: new TextDecoder().decode(body) };
}

/** Sends one request over the socket at `socket` and reads its whole answer. */
export async function unixRequest(
  socket: string,
  method: string,
  path: string,
  body: string | undefined,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<UnixAnswer> {
  signal?.throwIfAborted();
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: socket });
  } catch (e) {
    throw new Error(
      `Failed to connect to the daemon's socket ${socket}: ${e instanceof Error ? e.message : e} ` +
        `(is shoald running, and SHOAL_DIR the directory it runs in?)`,
    );
  }
  const aborted = Promise.withResolvers<never>();
  const onAbort = () => {
    aborted.reject(signal!.reason);
    try {
      conn.close();
    } catch { /* closed */ }
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const payload = body === undefined ? undefined : new TextEncoder().encode(body);
    let head = `${method} ${path} HTTP/1.1\r\nHost: shoal\r\nConnection: close\r\n`;
    const has = (name: string) => Object.keys(headers).some((k) => k.toLowerCase() === name);
    for (const [k, v] of Object.entries(headers)) {
      if (!/^(host|connection|content-length)$/i.test(k)) head += `${k}: ${v}\r\n`;
    }
    // What fetch adds when the caller does not say (the server sees the same request).
    if (!has("accept")) head += "Accept: */*\r\n";
    if (!has("user-agent")) head += `User-Agent: Deno/${Deno.version.deno}\r\n`;
    if (payload && !has("content-type")) head += "Content-Type: text/plain;charset=UTF-8\r\n";
    if (payload || !["GET", "HEAD", "OPTIONS", "DELETE"].includes(method)) {
      head += `Content-Length: ${payload?.length ?? 0}\r\n`;
    }
    const request = concat(new TextEncoder().encode(`${head}\r\n`), payload ?? new Uint8Array());
    const io = (async () => {
      for (let sent = 0; sent < request.length;) sent += await conn.write(request.subarray(sent));
      let buf: Uint8Array = new Uint8Array();
      const chunk = new Uint8Array(64 * 1024);
      for (;;) {
        const n = await conn.read(chunk);
        if (n !== null) buf = concat(buf, chunk.subarray(0, n));
        const answer = parseAnswer(buf, method, n === null);
        if (answer) return answer;
      }
    })();
    return await Promise.race([io, aborted.promise]);
  } finally {
    signal?.removeEventListener("abort", onAbort);
    try {
      conn.close();
    } catch { /* closed by an abort */ }
  }
}
