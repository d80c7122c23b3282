// node:https and node:tls load only when a transport needs them (~15 ms of a command's start:
// bench/cli.ts): a command over the unix socket never does.
import type https from "node:https";
import type { PeerCertificate } from "node:tls";
import { derToPem, fingerprint, type KeyPair } from "../tls/mod.ts";
import { KeptConnections, UnixConnections, unixRequest } from "./unix_http.ts";
import { dialTls } from "./tls_conn.ts";

/** Where a client connects. */
export type Endpoint =
  | { kind: "unix"; path: string }
  | {
    kind: "https";
    /** e.g. https://127.0.0.1:8443 */
    url: string;
    /** The server certificate to pin (PEM). */
    serverCert: string;
    /** The client certificate to present. */
    clientCert?: KeyPair;
  };

/** A raw HTTP answer. */
export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  /** A header by its lower-case name, as headers.get, where the transport can say without making headers. */
  header?(name: string): string | null;
}

/** Sends one request and reads the whole answer. */
export interface Transport {
  request(
    method: string,
    path: string,
    body: string | undefined,
    headers: Record<string, string>,
    signal?: AbortSignal,
    /**
     * Its effect and its answer are the same however often it arrives (a heartbeat): it may
     * travel on a kept-alive connection, where the HTTP client may send it again by itself.
     */
    idempotent?: boolean,
  ): Promise<RawResponse>;
  close(): void;
}

/** Methods that only read: sending one again changes nothing. */
const READS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Over the local unix socket, written and read by unix_http.ts (not Deno's fetch, whose loading
 * was a quarter of a command's start: see there). With keepAlive, requests reuse kept-alive
 * connections (UnixConnections: as lxc does; each is still sent once, never again); without,
 * each takes a connection of its own, which leaves nothing open when the caller forgets close()
 * (tests check that nothing is left open). Websockets (events, exec) go through Deno's own
 * client for the socket (httpClient), made when first asked for.
 */
export class UnixTransport implements Transport {
  #client: Deno.HttpClient | undefined;
  #kept: UnixConnections | null;
  constructor(readonly path: string, o: { keepAlive?: boolean } = {}) {
    this.#kept = o.keepAlive ? new UnixConnections(path) : null;
  }
  request(
    method: string,
    path: string,
    body: string | undefined,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<RawResponse> {
    return this.#kept
      ? this.#kept.request(method, path, body, headers, signal)
      : unixRequest(this.path, method, path, body, headers, signal);
  }
  get httpClient(): Deno.HttpClient {
    return this.#client ??= Deno.createHttpClient({ proxy: { transport: "unix", path: this.path } });
  }
  close(): void {
    this.#kept?.close();
    this.#client?.close();
  }
}

/** A checkServerIdentity that accepts exactly one certificate, by fingerprint (STACK.md §3). */
export function pinnedIdentity(pin: string): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) =>
    cert.fingerprint256?.replaceAll(":", "").toLowerCase() === pin ? undefined : new Error(
      `Server certificate fingerprint mismatch: expected ${pin}, got ${
        cert.fingerprint256?.replaceAll(":", "").toLowerCase()
      }`,
    );
}

/**
 * Over HTTPS with node:https: the server is pinned by its certificate (the request never leaves
 * for any other certificate), and a client certificate is presented when given.
 *
 * Reads reuse kept-alive connections; every other request takes a connection of its own. Deno's
 * node:https sends a request again, on a new connection, when a kept-alive one breaks after the
 * server received it, and when the request is aborted on one (transport_test.ts and
 * lib/transport/calls_test.ts pin it): a POST could be carried out twice, and its caller would
 * get the second answer ("already exists"). On a connection of its own it is sent once, and
 * fails if the connection breaks. That costs a TLS handshake per change (~11 ms here,
 * bench/floors.ts); callers that repeat an idempotent change often say so (`idempotent`).
 *
 * With keepAlive (the shoal CLI), every request goes on kept-alive connections of our own
 * HTTP/1.1 over node:tls instead (unix_http.ts's KeptConnections, as over the unix socket),
 * which never sends one again: a command's writes after its first request skip the handshake.
 */
export class HttpsTransport implements Transport {
  #agent: https.Agent | undefined;
  /** Connections used once, for requests that must not be sent again. */
  #once: https.Agent | undefined;
  #https: typeof https | undefined;
  #url: URL;
  #ready: Promise<void>;
  #kept: KeptConnections | null = null;
  constructor(readonly endpoint: Extract<Endpoint, { kind: "https" }>, o: { keepAlive?: boolean } = {}) {
    this.#url = new URL(endpoint.url);
    if (o.keepAlive) {
      const host = this.#url.hostname.replace(/^\[|\]$/g, "");
      const port = Number(this.#url.port || 8443);
      const pin = fingerprint(endpoint.serverCert);
      this.#kept = new KeptConnections(async () =>
        await dialTls({
          host,
          port,
          ca: endpoint.serverCert,
          cert: endpoint.clientCert?.cert,
          key: endpoint.clientCert?.key,
          checkServerIdentity: pinnedIdentity(await pin),
        }), { host: this.#url.host, maxIdle: 8, idleMs: 20_000 });
      this.#ready = Promise.resolve();
      return;
    }
    this.#ready = Promise.all([import("node:https"), fingerprint(endpoint.serverCert)]).then(([mod, pin]) => {
      const https = this.#https = mod.default;
      const trust = {
        ca: endpoint.serverCert,
        cert: endpoint.clientCert?.cert,
        key: endpoint.clientCert?.key,
        checkServerIdentity: pinnedIdentity(pin),
      };
      this.#agent = new https.Agent({ keepAlive: true, maxSockets: 64, ...trust });
      this.#once = new https.Agent({ keepAlive: false, ...trust });
    });
  }

  /** Options for other node clients (websockets) with the same trust. */
  async tlsOptions(): Promise<https.RequestOptions> {
    await this.#ready;
    return {
      ca: this.endpoint.serverCert,
      cert: this.endpoint.clientCert?.cert,
      key: this.endpoint.clientCert?.key,
      checkServerIdentity: pinnedIdentity(await fingerprint(this.endpoint.serverCert)),
    };
  }

  async request(
    method: string,
    path: string,
    body: string | undefined,
    headers: Record<string, string>,
    signal?: AbortSignal,
    idempotent = false,
  ): Promise<RawResponse> {
    if (this.#kept) return await this.#kept.request(method, path, body, headers, signal);
    await this.#ready;
    const agent = idempotent || READS.has(method) ? this.#agent : this.#once;
    let onAbort = () => {};
    return await new Promise<RawResponse>((resolve, reject) => {
      const req = this.#https!.request({
        host: this.#url.hostname.replace(/^\[|\]$/g, ""),
        port: Number(this.#url.port || 8443),
        path,
        method,
        headers: body === undefined
          ? headers
          : { ...headers, "Content-Length": String(new TextEncoder().encode(body).length) },
        agent,
        signal,
      }, (res) => {
        const chunks: Uint8Array[] = [];
        res.on("data", (c: Uint8Array) => chunks.push(c));
        res.on("end", () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (typeof v === "string") h.set(k, v);
            else if (Array.isArray(v)) h.set(k, v.join(", "));
          }
          resolve({ status: res.statusCode ?? 0, headers: h, text: Buffer.concat(chunks).toString("utf8") });
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      // Deno's node:https does not fail a request aborted on a reused keep-alive socket that
      // gets no answer (it hangs forever): settle it here, then drop the socket.
      onAbort = () => {
        reject(signal!.reason);
        req.destroy();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      if (body !== undefined) req.write(body);
      req.end();
    }).finally(() => signal?.removeEventListener("abort", onAbort));
  }

  close(): void {
    this.#kept?.close();
    this.#agent?.destroy();
    this.#once?.destroy();
  }
}

/**
 * Reads the certificate a TLS server presents, without trusting it or sending any request:
 * what `remote add` shows the user before pinning it.
 */
export async function fetchServerCertificate(
  host: string,
  port: number,
  timeoutMs = 10_000,
): Promise<string> {
  const { default: tls } = await import("node:tls");
  return await new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, rejectUnauthorized: false, servername: undefined }, () => {
      const pc = socket.getPeerCertificate(false);
      socket.destroy();
      if (!pc || !("raw" in pc) || !pc.raw) return reject(new Error("The server presented no certificate"));
      resolve(derToPem(new Uint8Array(pc.raw)));
    });
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error(`Timed out connecting to ${host}:${port}`));
    });
    socket.on("error", reject);
  });
}
