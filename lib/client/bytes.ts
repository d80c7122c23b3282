/**
 * Requests whose bodies are bytes (image upload and export, file push and pull), with progress,
 * over the unix socket or pinned HTTPS alike: what Client.request (JSON envelopes) does not do.
 * @module
 */
import type { Client } from "./client.ts";
import { HttpsTransport } from "./transport.ts";
import { StatusError } from "../util/mod.ts";

/** A raw answer: status, headers and the body as bytes. */
export interface RawReply {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

/** Sends a request whose body is bytes and reads the whole answer. */
export async function requestBytes(
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
