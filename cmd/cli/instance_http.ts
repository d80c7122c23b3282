/**
 * What the typed client does not do: bodies that are files (image upload, file push/pull) and
 * the exec websockets, over the unix socket or pinned HTTPS alike.
 */
// node:https, node:buffer and ws load only when a request needs them: every command imports this
// module, most never do (~50 ms of a command's start: bench/cli.ts).
// @ts-types="@types/ws"
import type WS from "ws";
import { type Client, HttpsTransport } from "../../lib/client/mod.ts";
import { StatusError } from "../../lib/util/mod.ts";

/** A raw answer: status, headers and the body as bytes. */
export interface RawReply {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

/** Sends a request whose body is bytes and reads the whole answer. */
export async function rawRequest(
  client: Client,
  method: string,
  path: string,
  body: Uint8Array | null,
  headers: Record<string, string> = {},
  onProgress?: (done: number, total: number) => void,
): Promise<RawReply> {
  path = client.withProject(path);
  const ep = client.endpoint;
  if (ep.kind === "unix") {
    const http = Deno.createHttpClient({ proxy: { transport: "unix", path: ep.path } });
    try {
      const sent = body && onProgress ? countedStream(body, onProgress) : body;
      const res = await fetch(`http://shoal${path}`, {
        method,
        body: sent as BodyInit | null,
        headers: body ? { ...headers, "Content-Length": String(body.length) } : headers,
        client: http,
      });
      const total = Number(res.headers.get("Content-Length") ?? 0);
      const got = onProgress && !body && res.body ? await readCounted(res.body, total, onProgress) : null;
      return {
        status: res.status,
        headers: res.headers,
        body: got ?? new Uint8Array(await res.arrayBuffer()),
      };
    } finally {
      http.close();
    }
  }
  const t = new HttpsTransport(ep);
  const tls = await t.tlsOptions();
  const url = new URL(ep.url);
  const [{ default: https }, { Buffer }] = await Promise.all([import("node:https"), import("node:buffer")]);
  try {
    return await new Promise<RawReply>((resolve, reject) => {
      const req = https.request({
        ...tls,
        host: url.hostname.replace(/^\[|\]$/g, ""),
        port: Number(url.port || 8443),
        path,
        method,
        headers: body ? { ...headers, "Content-Length": String(body.length) } : headers,
      }, (res) => {
        const chunks: Uint8Array[] = [];
        const total = Number(res.headers["content-length"] ?? 0);
        let got = 0;
        res.on("data", (c: Uint8Array) => {
          chunks.push(c);
          got += c.length;
          if (onProgress && !body) onProgress(got, total);
        });
        res.on("end", () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h.set(k, v);
          resolve({ status: res.statusCode ?? 0, headers: h, body: new Uint8Array(Buffer.concat(chunks)) });
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      if (body && onProgress) {
        // In chunks, each counted once the socket took it.
        let off = 0;
        const next = () => {
          if (off >= body.length) return void req.end();
          const chunk = body.subarray(off, off + CHUNK);
          off += chunk.length;
          req.write(chunk, () => {
            onProgress(off, body.length);
            next();
          });
        };
        next();
        return;
      }
      if (body) req.write(body);
      req.end();
    });
  } finally {
    t.close();
  }
}

const CHUNK = 256 * 1024;

/** A body as a stream of chunks, each counted as the transport takes it. */
function countedStream(body: Uint8Array, onProgress: (done: number, total: number) => void): ReadableStream {
  let off = 0;
  return new ReadableStream<Uint8Array>({
    pull(ctl) {
      if (off >= body.length) return ctl.close();
      const chunk = body.subarray(off, off + CHUNK);
      off += chunk.length;
      ctl.enqueue(chunk);
      onProgress(off, body.length);
    },
  });
}

/** Reads a response body, counting what arrived. */
async function readCounted(
  stream: ReadableStream<Uint8Array>,
  total: number,
  onProgress: (done: number, total: number) => void,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let got = 0;
  for await (const c of stream) {
    chunks.push(c);
    got += c.length;
    onProgress(got, total);
  }
  const out = new Uint8Array(got);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Throws the server's error when a raw answer is an error envelope. */
export function checkRaw(r: RawReply): RawReply {
  if (r.status >= 400) {
    let msg = `HTTP ${r.status}`;
    try {
      const env = JSON.parse(new TextDecoder().decode(r.body));
      if (env?.error) msg = env.error;
    } catch { /* not JSON */ }
    throw new StatusError(r.status, msg);
  }
  return r;
}

/** A connected operation websocket. */
export interface OpWebSocket {
  send(data: Uint8Array | string): void;
  close(): void;
  onMessage(h: (data: Uint8Array | string) => void): void;
  /** Resolves when the socket closed. */
  closed: Promise<void>;
}

/** Connects /1.0/operations/ID/websocket?secret=S. */
export async function operationSocket(client: Client, opId: string, secret: string): Promise<OpWebSocket> {
  const path = `/1.0/operations/${encodeURIComponent(opId)}/websocket?secret=${encodeURIComponent(secret)}`;
  const ep = client.endpoint;
  const closed = Promise.withResolvers<void>();
  const opened = Promise.withResolvers<void>();
  if (ep.kind === "unix") {
    const http = Deno.createHttpClient({ proxy: { transport: "unix", path: ep.path } });
    const ws = new WebSocket(`ws://shoal${path}`, { client: http } as unknown as string[]);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => opened.resolve();
    ws.onerror = () => opened.reject(new Error("Failed to connect to the operation websocket"));
    ws.onclose = () => {
      http.close();
      closed.resolve();
    };
    const handlers: ((d: Uint8Array | string) => void)[] = [];
    ws.onmessage = (m) => {
      const d = typeof m.data === "string" ? m.data : new Uint8Array(m.data as ArrayBuffer);
      for (const h of handlers) h(d);
    };
    await opened.promise;
    return {
      send: (d) => ws.readyState === WebSocket.OPEN && ws.send(d),
      close: () => ws.close(),
      onMessage: (h) => handlers.push(h),
      closed: closed.promise,
    };
  }
  const t = new HttpsTransport(ep);
  const url = new URL(ep.url);
  // @ts-types="@types/ws"
  const [{ default: WS }, { Buffer }] = await Promise.all([import("ws"), import("node:buffer")]);
  const ws = new WS(`wss://${url.host}${path}`, (await t.tlsOptions()) as WS.ClientOptions);
  ws.on("open", () => opened.resolve());
  ws.on("error", (e) => opened.reject(e));
  ws.on("close", () => {
    t.close();
    closed.resolve();
  });
  await opened.promise;
  return {
    send: (d) => ws.readyState === ws.OPEN && ws.send(d, { binary: typeof d !== "string" }),
    close: () => ws.close(),
    onMessage: (h) =>
      ws.on("message", (data, isBinary) => {
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
        h(isBinary ? new Uint8Array(buf) : buf.toString("utf8"));
      }),
    closed: closed.promise,
  };
}
