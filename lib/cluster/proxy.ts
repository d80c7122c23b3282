import https from "node:https";
import { X509Certificate } from "node:crypto";
import type { ClientRequest } from "node:http";
import type { IncomingMessage } from "node:http";
// @ts-types="@types/ws"
import WS from "ws";
import { pinnedIdentity } from "../client/mod.ts";
import { bulkRequest } from "./bulk_http.ts";
import type { KeyPair } from "../tls/mod.ts";
import { errorMessage, splitHostPort, StatusError } from "../util/mod.ts";
import {
  NotSent,
  type ProxiedSocket,
  TUNNEL_PATH,
  TunnelClient,
  type TunnelSocket,
  type UpstreamSocket,
} from "./ws_tunnel.ts";

/** The largest frame a tunnel carries (an operation stream's, with its header), as members' streams. */
const MEMBER_FRAME_MAX = 100 << 20;

/** Rejects with the member's refusal of a websocket (its LXD error envelope), or its absence. */
function refusalOf(ws: WS, member: string, address: string, reject: (e: Error) => void): void {
  ws.once("unexpected-response", (_req, res: IncomingMessage) => {
    const chunks: Uint8Array[] = [];
    res.on("data", (c: Uint8Array) => chunks.push(c));
    res.on("end", () => {
      let message = `Cluster member "${member}" refused the websocket (HTTP ${res.statusCode})`;
      try {
        message = JSON.parse(Buffer.concat(chunks).toString("utf8")).error || message;
      } catch { /* not LXD's envelope */ }
      reject(new StatusError(res.statusCode ?? 502, message));
    });
    ws.terminate();
  });
  ws.once(
    "error",
    (e) =>
      reject(
        new StatusError(503, `Failed to reach cluster member "${member}" (${address}): ${errorMessage(e)}`),
      ),
  );
}

/** Methods that change nothing: only these reuse a kept-alive connection (see #agent). */
const READS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Headers that belong to one connection, never passed on (RFC 9110 §7.6.1), and the ones we set. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "host",
]);

export type { ProxiedSocket, UpstreamSocket } from "./ws_tunnel.ts";

/**
 * Joins a client's websocket to one being opened on the member that has the operation: the
 * client is served at once and its frames wait for the member's side, so that the member's
 * handshake overlaps the client's next steps (lxc opens its exec streams one after another).
 * Either side closing closes the other.
 */
export function bridge(client: ProxiedSocket, upstream: Promise<UpstreamSocket>): void {
  let up: UpstreamSocket | null = null;
  let gone = false;
  const pending: (string | Uint8Array)[] = [];
  client.onMessage((d) => up ? up.send(d) : pending.push(d));
  client.onClose(() => {
    gone = true;
    up?.close();
  });
  upstream.then((u) => {
    if (gone) return u.close();
    up = u;
    for (const d of pending.splice(0)) u.send(d);
    u.setClient(client);
  }, () => client.close(1011, "The member that holds the operation did not take the stream"));
}

/**
 * Passes a client's request on to another member as it came, streaming both ways (a file push
 * or pull never sits whole in this member's memory), over mutual TLS pinned to the cluster
 * certificate, with this member's own certificate presented. The caller's identity travels in
 * a header the owner takes only from a current member (lib/api/auth.ts), so the owner decides
 * as it would for the client itself.
 */
export class MemberProxy {
  #tls: () => KeyPair | null;
  #own: () => KeyPair;
  #agents = new Map<string, https.Agent>();
  #agentsFor: KeyPair | null = null;
  /** One tunnel per member for operation streams (ws_tunnel.ts), for the cluster certificate of #tunnelsFor. */
  #tunnels = new Map<string, Promise<TunnelClient>>();
  #tunnelsFor: KeyPair | null = null;
  /** Members that refused a tunnel (an older version): not asked again before the time here. */
  #untunnelled = new Map<string, { until: number; why: Error }>();

  constructor(tls: () => KeyPair | null, own: () => KeyPair) {
    this.#tls = tls;
    this.#own = own;
  }

  #options(): {
    ca: string;
    cert: string;
    key: string;
    checkServerIdentity: ReturnType<typeof pinnedIdentity>;
  } {
    const tls = this.#tls();
    if (!tls) throw new StatusError(503, "This member is not clustered: it has no cluster certificate");
    const own = this.#own();
    return { ca: tls.cert, cert: own.cert, key: own.key, checkServerIdentity: pinnedIdentity(pinOf(tls)) };
  }

  /**
   * The agent for requests to address: kept-alive connections for reads; for anything else a
   * connection of its own, because Deno's node:https sends a request again on a new connection
   * when a kept-alive one breaks after the member received it (lib/transport/calls_test.ts pins
   * it; proxy_test.ts shows it here): a forwarded write would take effect twice, and its caller
   * would get the second answer. That costs a TLS handshake per forwarded change, so writes go
   * over the member's tunnel (#forwardWrite) and come here only when it cannot take them.
   */
  #agent(address: string, reuse: boolean): https.Agent {
    const tls = this.#tls();
    if (tls !== this.#agentsFor) {
      for (const a of this.#agents.values()) a.destroy();
      this.#agents.clear();
      this.#agentsFor = tls;
    }
    const key = `${reuse ? "kept" : "once"} ${address}`;
    let a = this.#agents.get(key);
    if (!a) {
      a = reuse
        ? new https.Agent({ keepAlive: true, maxSockets: 128, ...this.#options() })
        : new https.Agent({ keepAlive: false, ...this.#options() });
      this.#agents.set(key, a);
    }
    return a;
  }

  /**
   * Sends req to the member at address with the extra headers; resolves with its answer as a
   * stream once the status line is in. member names it in errors.
   */
  forward(member: string, address: string, req: Request, extra: Record<string, string>): Promise<Response> {
    const url = new URL(req.url);
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => {
      if (!HOP_BY_HOP.has(k)) headers[k] = v;
    });
    Object.assign(headers, extra);
    // lxc sends a body with its GETs ("{}" and a Content-Length) that Deno does not hand over:
    // announcing bytes that never come would make the member read the next request as the body.
    if (req.body === null) delete headers["content-length"];
    const { host, port } = splitHostPort(address);
    if (isBulk(url)) {
      const o = this.#options();
      return bulkRequest(
        { host, port, ca: o.ca, cert: o.cert, key: o.key },
        req.method,
        url.pathname + url.search,
        headers,
        req.body,
      ).catch((e) => {
        throw e instanceof StatusError ? e : new StatusError(
          503,
          `Failed to reach cluster member "${member}" (${address}): ${errorMessage(e)}`,
        );
      });
    }
    if (!READS.has(req.method) && fitsTunnel(req)) {
      return this.#forwardWrite(member, address, url, req, headers);
    }
    return this.#request(member, address, url, req, headers);
  }

  /**
   * A write goes over the member's tunnel, sent once (ws_tunnel.ts): no TLS handshake of its
   * own, and no transport that could send it again. Only when there is no tunnel to send it on
   * (the member has none, or it broke before the request left) does it take a connection of
   * its own.
   */
  async #forwardWrite(
    member: string,
    address: string,
    url: URL,
    req: Request,
    headers: Record<string, string>,
  ): Promise<Response> {
    const body = req.body === null ? null : new Uint8Array(await req.arrayBuffer());
    for (let attempt = 0; attempt < 2; attempt++) {
      // None to be had: a connection of its own below says why.
      const tunnel = await this.#requestTunnel(member, address);
      if (!tunnel) break;
      try {
        return await tunnel.request({ method: req.method, path: url.pathname + url.search, headers }, body);
      } catch (e) {
        if (e instanceof NotSent) continue;
        throw e instanceof StatusError && e.status !== 503 ? e : new StatusError(
          503,
          `Failed to reach cluster member "${member}" (${address}): ${errorMessage(e)}`,
        );
      }
    }
    return await this.#request(
      member,
      address,
      url,
      new Request(req.url, { method: req.method, body }),
      headers,
    );
  }

  /**
   * A request to the member over its tunnel, as this member (no caller header): for the small
   * calls members make of each other often (an operation's state, its wait), which on node's
   * https client took 5-8 ms each. Null when there is no tunnel to send it on (the caller takes
   * its own way); a tunnel lost before the answer is a plain Error (the member is unreachable).
   */
  async tunnelRequest(
    member: string,
    address: string,
    head: { method: string; path: string },
    signal?: AbortSignal,
  ): Promise<Response | null> {
    const tunnel = await this.#requestTunnel(member, address);
    if (!tunnel) return null;
    try {
      return await tunnel.request({ ...head, headers: {} }, null, signal);
    } catch (e) {
      if (e instanceof NotSent) return null;
      if (e instanceof StatusError && e.status === 503) throw new Error(e.message);
      throw e;
    }
  }

  /** The member's tunnel when it has one that takes requests (an older member's does not), or null. */
  async #requestTunnel(member: string, address: string): Promise<TunnelClient | null> {
    try {
      const tunnel = await this.#tunnel(member, address);
      return await tunnel.takesRequests ? tunnel : null;
    } catch {
      return null;
    }
  }

  #request(
    member: string,
    address: string,
    url: URL,
    req: Request,
    headers: Record<string, string>,
  ): Promise<Response> {
    const { host, port } = splitHostPort(address);
    return new Promise<Response>((resolve, reject) => {
      const out = https.request({
        host,
        port,
        path: url.pathname + url.search,
        method: req.method,
        headers,
        agent: this.#agent(address, READS.has(req.method)),
      }, (res) => resolve(toResponse(req.method, res)));
      out.on("error", (e) =>
        reject(
          new StatusError(503, `Failed to reach cluster member "${member}" (${address}): ${errorMessage(e)}`),
        ));
      // A client that goes away is seen by the streams, not req.signal (Deno aborts that signal
      // after every answer, which would destroy a kept-alive connection under the next request):
      // its upload errors (pump destroys the request), its download is cancelled (toResponse).
      void pump(req.body, out);
    });
  }

  /**
   * Opens a stream to another member on path (an operation's websocket), as this member; resolves
   * once the member took it, or rejects with its refusal. It goes over the member's tunnel
   * (ws_tunnel.ts), opened once; a member that has none (an older version during a rolling
   * upgrade) gets a websocket of its own, as before.
   */
  async openWebsocket(
    member: string,
    address: string,
    path: string,
    extra: Record<string, string>,
  ): Promise<UpstreamSocket> {
    let tunnel: TunnelClient | null = null;
    try {
      tunnel = await this.#tunnel(member, address);
    } catch (e) {
      if (!(e instanceof StatusError && (e.status === 404 || e.status === 403))) throw e;
    }
    if (tunnel) return await tunnel.stream(path);
    return await this.#direct(member, address, path, extra);
  }

  #tunnel(member: string, address: string): Promise<TunnelClient> {
    const tls = this.#tls();
    if (tls !== this.#tunnelsFor) {
      for (const t of this.#tunnels.values()) void t.then((c) => c.close(), () => {});
      this.#tunnels.clear();
      this.#untunnelled.clear();
      this.#tunnelsFor = tls;
    }
    const refused = this.#untunnelled.get(address);
    if (refused && refused.until > Date.now()) return Promise.reject(refused.why);
    const have = this.#tunnels.get(address);
    if (have) {
      return have.then((c) => {
        if (c.isOpen) return c;
        if (this.#tunnels.get(address) === have) this.#tunnels.delete(address);
        return this.#tunnel(member, address);
      });
    }
    const made = this.#raw(member, address, TUNNEL_PATH).then((socket) => new TunnelClient(socket));
    this.#tunnels.set(address, made);
    made.catch((e) => {
      if (this.#tunnels.get(address) === made) this.#tunnels.delete(address);
      // Unreachable is asked again next time; a refusal is the member's version, for a while.
      if (e instanceof StatusError && e.status !== 503) {
        this.#untunnelled.set(address, { until: Date.now() + UNTUNNELLED_MS, why: e });
      }
    });
    return made;
  }

  /** A websocket to the member on path, as a plain socket (the tunnel's). */
  #raw(member: string, address: string, path: string): Promise<TunnelSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WS(`wss://${address}${path}`, {
        ...this.#options(),
        handshakeTimeout: 10_000,
        perMessageDeflate: false,
        maxPayload: MEMBER_FRAME_MAX,
      } as unknown as WS.ClientOptions);
      refusalOf(ws, member, address, reject);
      ws.once("open", () => {
        const onMessage: ((d: string | Uint8Array) => void)[] = [];
        ws.on("message", (data, isBinary) => {
          const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
          const frame = isBinary ? new Uint8Array(buf) : buf.toString("utf8");
          for (const h of onMessage) h(frame);
        });
        resolve({
          send: (d) => {
            if (ws.readyState === WS.OPEN) ws.send(d, { binary: typeof d !== "string" });
          },
          close: () => ws.close(),
          onMessage: (h) => void onMessage.push(h),
          onClose: (h) => void ws.on("close", h),
          buffered: () => ws.bufferedAmount,
          isOpen: () => ws.readyState === WS.OPEN,
        });
      });
    });
  }

  #direct(
    member: string,
    address: string,
    path: string,
    extra: Record<string, string>,
  ): Promise<UpstreamSocket> {
    const ws = new WS(`wss://${address}${path}`, {
      ...this.#options(),
      headers: extra,
      handshakeTimeout: 10_000,
      perMessageDeflate: false,
    } as unknown as WS.ClientOptions);
    return new Promise((resolve, reject) => {
      refusalOf(ws, member, address, reject);
      ws.once("open", () => {
        // Frames that arrive before the client's side is joined wait here.
        const early: { data: Uint8Array | string }[] = [];
        let client: ProxiedSocket | null = null;
        let closedEarly = false;
        ws.on("message", (data, isBinary) => {
          const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
          const frame = isBinary ? new Uint8Array(buf) : buf.toString("utf8");
          if (client) client.send(frame);
          else early.push({ data: frame });
        });
        ws.on("close", () => {
          if (client) client.close();
          else closedEarly = true;
        });
        resolve({
          send(d) {
            if (ws.readyState === WS.OPEN) ws.send(d, { binary: typeof d !== "string" });
          },
          setClient(c) {
            client = c;
            for (const f of early.splice(0)) c.send(f.data);
            if (closedEarly) c.close();
          },
          close() {
            if (ws.readyState === WS.OPEN || ws.readyState === WS.CONNECTING) ws.close();
          },
        });
      });
    });
  }

  /** Drops every kept-alive connection (the cluster certificate changed, or the member stops). */
  close(): void {
    for (const a of this.#agents.values()) a.destroy();
    this.#agents.clear();
    for (const t of this.#tunnels.values()) void t.then((c) => c.close(), () => {});
    this.#tunnels.clear();
    this.#untunnelled.clear();
  }
}

/**
 * Transfers of any size (files, image exports, logs) go over a connection of their own whose
 * reads and writes wait for the other side (bulk_http.ts); the rest keeps node's pooled
 * connections, which answer small requests faster.
 */
function isBulk(url: URL): boolean {
  return /\/(files|export|volume)$|\/logs\/[^/]+$/.test(url.pathname);
}

/** How long a member that refused a tunnel is not asked for one again. */
const UNTUNNELLED_MS = 60_000;

/** The largest body a write takes over a tunnel (in one frame, held whole): the rest stream on a connection. */
const TUNNEL_BODY_MAX = 1 << 20;

/** Whether req goes whole in one tunnel frame: no body, or one of a known, small length. */
function fitsTunnel(req: Request): boolean {
  if (req.body === null) return true;
  const n = Number(req.headers.get("content-length") ?? NaN);
  return Number.isInteger(n) && n >= 0 && n <= TUNNEL_BODY_MAX;
}

/** The pin of the cluster certificate, cached per certificate object. */
const pins = new WeakMap<KeyPair, string>();
function pinOf(tls: KeyPair): string {
  let p = pins.get(tls);
  if (!p) {
    p = certFingerprint(tls.cert);
    pins.set(tls, p);
  }
  return p;
}

/** SHA-256 fingerprint of a PEM certificate, synchronously (node:crypto). */
function certFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256.replaceAll(":", "").toLowerCase();
}
/** Writes a request body to the member with backpressure, then ends it. */
async function pump(body: ReadableStream<Uint8Array> | null, out: ClientRequest): Promise<void> {
  try {
    if (body) {
      for await (const chunk of body) {
        if (out.destroyed) return;
        if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", r).once("close", r));
      }
    }
    out.end();
  } catch (e) {
    out.destroy(e instanceof Error ? e : new Error(String(e)));
  }
}

/** The member's answer as a Response whose body streams, paused while the client reads slowly. */
function toResponse(method: string, res: IncomingMessage): Response {
  const headers = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (HOP_BY_HOP.has(k) || v === undefined) continue;
    if (Array.isArray(v)) { for (const x of v) headers.append(k, x); }
    else headers.set(k, v);
  }
  const status = res.statusCode ?? 502;
  if (method === "HEAD" || status === 204 || status === 304) {
    res.resume();
    return new Response(null, { status, headers });
  }
  // Data already read can still be emitted after the reader cancelled: enqueueing it then
  // throws from an event handler, which would take the whole daemon down.
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    start(ctrl) {
      res.on("data", (c: Uint8Array) => {
        if (cancelled) return;
        ctrl.enqueue(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
        if ((ctrl.desiredSize ?? 1) <= 0) res.pause();
      });
      res.on("end", () => {
        try {
          ctrl.close();
        } catch { /* cancelled */ }
      });
      res.on("error", (e) => {
        try {
          ctrl.error(e);
        } catch { /* cancelled */ }
      });
    },
    pull() {
      res.resume();
    },
    cancel() {
      cancelled = true;
      res.destroy();
    },
  }, { highWaterMark: 8 });
  return new Response(body, { status, headers });
}
