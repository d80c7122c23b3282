import https from "node:https";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { getRequestListener } from "@hono/node-server";
// @ts-types="@types/ws"
import { type WebSocket as NodeWebSocket, WebSocketServer } from "ws";
import type { Peer } from "../api/mod.ts";
import type { OpSocket } from "../operations/mod.ts";
import { derToPem } from "../tls/mod.ts";
import { badRequest, errorMessage, errorStatus, forbidden } from "../util/mod.ts";
import { crossSiteRefusal, errorBody } from "../api/mod.ts";

/** Answers one HTTP request for a peer. */
export type FetchHandler = (req: Request, peer: Peer) => Response | Promise<Response>;

/**
 * Decides on a websocket upgrade: what runs the socket and the largest message it takes, or a
 * thrown StatusError.
 */
export type WsUpgrade = { run: (socket: OpSocket) => void; maxFrame: number };
export type UpgradeHandler = (url: URL, peer: Peer) => WsUpgrade | Promise<WsUpgrade>;

/** Counts requests in flight so that shutdown can wait for them. */
export class InFlight {
  #running = new Set<Promise<unknown>>();
  #idle: (() => void)[] = [];
  track<T>(fn: () => Promise<T>): Promise<T> {
    const p = (async () => await fn())();
    const done = p.then(() => {}, () => {});
    this.#running.add(done);
    void done.then(() => {
      this.#running.delete(done);
      if (this.#running.size === 0) { for (const r of this.#idle.splice(0)) r(); }
    });
    return p;
  }
  get count(): number {
    return this.#running.size;
  }
  /** Resolves when no request is in flight, or after timeoutMs. */
  idle(timeoutMs: number): Promise<void> {
    if (this.#running.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.#idle.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
  /**
   * Resolves when the requests in flight now have finished, or after timeoutMs: requests that
   * arrive later (other members' calls keep coming while a member drains) do not extend it.
   */
  settled(timeoutMs: number): Promise<void> {
    return withTimeout(Promise.all([...this.#running]).then(() => {}), timeoutMs);
  }
}

/** Resolves when p does, or after timeoutMs, whichever comes first (never rejects). */
export function withTimeout(p: Promise<unknown>, timeoutMs: number): Promise<void> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.then(() => {}, () => {}),
    new Promise<void>((r) => (t = setTimeout(r, timeoutMs))),
  ]).finally(() => clearTimeout(t));
}

/** The 1009 close of a stream sent a message over its limit (as node's ws closes it). */
const TOO_BIG = 1009;

/**
 * Deno's server websockets take no size limit: a message over maxFrame closes the stream
 * unread (the unix socket is root's; node's ws below refuses it while it arrives).
 */
function wrapDenoSocket(ws: WebSocket, maxFrame: number): OpSocket {
  ws.binaryType = "arraybuffer";
  return {
    send: (d) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(d);
    },
    close: (code, reason) => ws.close(code, reason),
    onMessage: (h) =>
      ws.addEventListener("message", (e) => {
        const size = typeof e.data === "string" ? e.data.length : (e.data as ArrayBuffer).byteLength;
        if (size > maxFrame) return ws.close(TOO_BIG, "Message too big");
        h(typeof e.data === "string" ? e.data : new Uint8Array(e.data));
      }),
    onClose: (h) => ws.addEventListener("close", () => h()),
    buffered: () => ws.bufferedAmount,
  };
}

function wrapNodeSocket(ws: NodeWebSocket): OpSocket {
  // ws reports a message over maxPayload (and any protocol error) as an 'error' event, then
  // closes the socket itself (1009, 1002): without a listener that event ends the daemon.
  ws.on("error", () => {});
  return {
    send: (d) => {
      if (ws.readyState === ws.OPEN) ws.send(d, { binary: typeof d !== "string" });
    },
    close: (code, reason) => ws.close(code, reason),
    onMessage: (h) =>
      ws.on("message", (data, isBinary) => {
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
        h(isBinary ? new Uint8Array(buf) : buf.toString("utf8"));
      }),
    onClose: (h) => ws.on("close", () => h()),
    buffered: () => ws.bufferedAmount,
  };
}

function errorResponse(e: unknown): Response {
  const status = errorStatus(e);
  return new Response(JSON.stringify(errorBody(status, errorMessage(e))), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

/**
 * The URL of a request on the unix socket. Deno builds it from the Host header, and a client that
 * sends none usable makes req.url throw (ws4py, pylxd's websocket library, sends "Host: None:None"
 * on a unix socket; Go's server, LXD's, ignores the host there). The path is in the error's text,
 * and the host means nothing on a unix socket: such a request is read as for a host of our own.
 */
const UNIX_HOST = "unix-socket.invalid";

export function unixUrl(req: Request): URL {
  try {
    return new URL(req.url);
  } catch (e) {
    const m = /Invalid URL: '[a-z+]+:\/\/[^/']*(\/[^']*)'/.exec(errorMessage(e));
    if (!m) throw e;
    return new URL(m[1]!, `http://${UNIX_HOST}`);
  }
}

/**
 * The authorities ("http+unix://HOST") of unix socket requests whose URL parsed: whether a URL
 * parses depends on its authority only (its path and query are percent-encoded, never refused).
 */
const parsedHosts = new Set<string>();
const PARSED_HOSTS_MAX = 64;

/** Whether url's authority is one seen to parse; if not, and it parses now, remembers it. */
function parsesUnixHost(url: string): boolean {
  const at = url.indexOf("://");
  const end = at < 0 ? -1 : url.indexOf("/", at + 3);
  if (end < 0) return false;
  const authority = url.slice(0, end);
  if (parsedHosts.has(authority)) return true;
  try {
    if (new URL(url).host === UNIX_HOST) return false;
  } catch {
    return false;
  }
  if (parsedHosts.size < PARSED_HOSTS_MAX) parsedHosts.add(authority);
  return false;
}

/** The unix socket listener: root's, no TLS, full trust (mode 0660). */
export class UnixListener {
  #server: Deno.HttpServer;
  readonly path: string;

  private constructor(path: string, server: Deno.HttpServer) {
    this.path = path;
    this.#server = server;
  }

  static async listen(
    path: string,
    fetch: FetchHandler,
    upgrade: UpgradeHandler,
    inflight: InFlight,
  ): Promise<UnixListener> {
    const peer: Peer = { transport: "unix" };
    const ready = Promise.withResolvers<void>();
    const server = Deno.serve({ path, onListen: () => ready.resolve() }, async (raw) => {
      let url: URL | null = null, req = raw;
      // Parsed only when its host was never seen to parse (a client sends the same one each time):
      // the app reads the URL as text, and parsing it was ~3 us of every request on the socket.
      if (!parsesUnixHost(raw.url)) {
        try {
          url = unixUrl(raw);
          if (url.host === UNIX_HOST) req = new Request(url, raw);
        } catch (e) {
          return errorResponse(badRequest(errorMessage(e)));
        }
      }
      if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
        try {
          // Decided before accepting: a stream proxied to another member opens there first.
          const { run, maxFrame } = await upgrade(url ?? new URL(raw.url), peer);
          const { socket, response } = Deno.upgradeWebSocket(raw);
          socket.addEventListener("open", () => run(wrapDenoSocket(socket, maxFrame)), { once: true });
          return response;
        } catch (e) {
          return errorResponse(e);
        }
      }
      return await inflight.track(async () => await fetch(req, peer));
    });
    await ready.promise;
    await Deno.chmod(path, 0o660);
    return new UnixListener(path, server);
  }

  /**
   * Stops accepting and waits for requests in flight (Deno's graceful shutdown), at most
   * timeoutMs: by then the database has settled whatever they waited on.
   */
  async close(timeoutMs: number): Promise<void> {
    await withTimeout(this.#server.shutdown(), timeoutMs);
    try {
      await Deno.remove(this.path);
    } catch { /* already gone */ }
  }
}

/**
 * Who is on a connection, read once per connection: its certificate cannot change on it, and
 * members keep their connections alive for thousands of forwarded requests.
 */
const peers = new WeakMap<TLSSocket, Peer>();

function peerOf(socket: TLSSocket): Peer {
  const known = peers.get(socket);
  if (known) return known;
  const pc = socket.getPeerCertificate?.(false);
  const der = pc && "raw" in pc && pc.raw ? new Uint8Array(pc.raw) : null;
  const peer: Peer = {
    transport: "tls",
    address: `${socket.remoteAddress ?? ""}:${socket.remotePort ?? 0}`,
    fingerprint: pc?.fingerprint256 ? pc.fingerprint256.replaceAll(":", "").toLowerCase() : null,
    certificate: der ? derToPem(der) : null,
  };
  // Before the handshake there is no certificate yet: only a complete answer is kept.
  if (pc && "raw" in pc) peers.set(socket, peer);
  return peer;
}

/** How long a closing connection still reads (and drops) what its client sends. */
const LINGER_MS = 2000;

/**
 * Node closes a connection right after the last answer, unread request body or not: the
 * client's kernel then meets a reset and may drop the answer it had not read yet (a 413 for a
 * body over the limit, sent before the body was read). Close as a careful server does: send the
 * end, read and drop what still comes for a while, then close (Go's server reads 256 KiB).
 */
function lingerOnClose(s: Duplex): void {
  const socket = s as Duplex & { destroySoon?: () => void };
  socket.destroySoon = () => {
    socket.end();
    socket.resume();
    setTimeout(() => socket.destroy(), LINGER_MS).unref?.();
  };
}

/**
 * How many connections one client address may hold open at once; the next is closed at once.
 * A client's or a member's pool holds tens; a thousand is far past any of them and far below the
 * daemon's file limit, so that one address cannot take every descriptor the daemon has.
 */
export const MAX_CONNECTIONS_PER_ADDRESS = 1024;

/**
 * The HTTPS listener: node:https, because it can ask for client certificates (STACK.md §2).
 * Any client may connect; trust is decided per request from the presented certificate.
 */
export class HttpsListener {
  #server: https.Server;
  /** One websocket server per message limit (ws sets maxPayload per server). */
  #wss = new Map<number, WebSocketServer>();
  #sockets = new Set<Duplex>();
  /** Open connections by client address (MAX_CONNECTIONS_PER_ADDRESS). */
  #perAddress = new Map<string, number>();
  readonly address: string;

  private constructor(address: string, server: https.Server) {
    this.address = address;
    this.#server = server;
  }

  static listen(
    address: { host: string; port: number; label: string },
    tls: { cert: string; key: string },
    fetch: FetchHandler,
    upgrade: UpgradeHandler,
    inflight: InFlight,
  ): Promise<HttpsListener> {
    const listener = getRequestListener(
      (req: Request, env: { incoming: { socket: unknown } }) =>
        inflight.track(async () => await fetch(req, peerOf(env.incoming.socket as TLSSocket))),
      { overrideGlobalObjects: false },
    );
    const server = https.createServer(
      {
        cert: tls.cert,
        key: tls.key,
        requestCert: true,
        rejectUnauthorized: false,
        keepAliveTimeout: 60_000,
        noDelay: true,
      },
      listener,
    );
    const self = new HttpsListener(address.label, server);
    // Node's parser refuses what Go's takes (a method it does not know, a byte over 0x7f in the
    // path) and by default may close without a word: answer in LXD's envelope, never a 5xx.
    server.on("clientError", (err: Error & { code?: string }, socket: Duplex) => {
      if (!socket.writable || err.code === "ECONNRESET") {
        socket.destroy();
        return;
      }
      const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
      const body = JSON.stringify(errorBody(status, `Bad request: ${err.code ?? err.message}`));
      socket.end(
        `HTTP/1.1 ${status} ${status === 431 ? "Request Header Fields Too Large" : "Bad Request"}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${
            Buffer.byteLength(body)
          }\r\nConnection: close\r\n\r\n${body}`,
      );
    });
    server.on("connection", (s: Duplex) => {
      // One address may hold only so many connections: more are closed before TLS.
      const from = (s as unknown as { remoteAddress?: string }).remoteAddress ?? "";
      const held = self.#perAddress.get(from) ?? 0;
      if (held >= MAX_CONNECTIONS_PER_ADDRESS) return void s.destroy();
      self.#perAddress.set(from, held + 1);
      s.once("close", () => {
        const left = (self.#perAddress.get(from) ?? 1) - 1;
        if (left > 0) self.#perAddress.set(from, left);
        else self.#perAddress.delete(from);
      });
      self.#sockets.add(s);
      s.on("close", () => self.#sockets.delete(s));
    });
    server.on("secureConnection", (s: Duplex) => {
      (s as unknown as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
      lingerOnClose(s);
      self.#sockets.add(s);
      s.on("close", () => self.#sockets.delete(s));
    });
    server.on("upgrade", async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const peer = peerOf(req.socket as TLSSocket);
      let handler: (s: OpSocket) => void;
      let maxFrame: number;
      try {
        // A browser's websocket from another site's page must not ride its certificate.
        const h = (n: string) => [req.headers[n]].flat()[0];
        const why = crossSiteRefusal(h, req.headers.host);
        if (why !== null) throw forbidden(why);
        ({ run: handler, maxFrame } = await upgrade(new URL(req.url ?? "/", "https://shoal"), peer));
      } catch (e) {
        const status = errorStatus(e);
        const body = JSON.stringify(errorBody(status, errorMessage(e)));
        socket.end(
          `HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\nContent-Length: ${
            new TextEncoder().encode(body).length
          }\r\nConnection: close\r\n\r\n${body}`,
        );
        return;
      }
      let wss = self.#wss.get(maxFrame);
      if (!wss) self.#wss.set(maxFrame, wss = new WebSocketServer({ noServer: true, maxPayload: maxFrame }));
      wss.handleUpgrade(req, socket, head, (ws) => handler(wrapNodeSocket(ws)));
    });
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(address.port, address.host === "" ? "::" : address.host, () => {
        server.off("error", reject);
        resolve(self);
      });
    });
  }

  /** Serves a new certificate to new connections (cluster join, certificate update). */
  setCertificate(tls: { cert: string; key: string }): void {
    this.#server.setSecureContext({ cert: tls.cert, key: tls.key });
  }

  /** Stops accepting; idle keep-alive connections close now, the rest once their request ends. */
  async close(inflight: InFlight, timeoutMs: number): Promise<void> {
    const closed = new Promise<void>((r) => this.#server.close(() => r()));
    this.#server.closeIdleConnections?.();
    for (const wss of this.#wss.values()) for (const ws of wss.clients) ws.terminate();
    await inflight.idle(timeoutMs);
    for (const s of this.#sockets) s.destroy();
    await closed;
  }
}
