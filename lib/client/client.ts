// @ts-types="@types/ws"
import type WS from "ws";
import { StatusError } from "../util/mod.ts";
import type { Envelope, Event, EventType, Operation } from "../wire/mod.ts";
import {
  type Endpoint,
  HttpsTransport,
  type RawResponse,
  type Transport,
  UnixTransport,
} from "./transport.ts";

/** A successful answer, unwrapped. */
export interface Reply<T> {
  metadata: T;
  etag: string | undefined;
  /** The operation URL of an async answer. */
  operation: string | undefined;
  status: number;
}

/** Options of a request. */
export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /**
   * Its effect and answer are the same however often it arrives: over HTTPS it may then use a
   * kept-alive connection (changes otherwise take one of their own: transport.ts says why).
   */
  idempotent?: boolean;
}

/** A subscription to /1.0/events. */
export interface EventStream {
  /** Resolves once the websocket is open: events after this point are delivered. */
  ready: Promise<void>;
  close(): void;
}

/**
 * A typed client for shoal's (and LXD's) REST API, over the unix socket or pinned HTTPS. Errors
 * come back as StatusError with the server's status and message.
 */
export class Client {
  readonly endpoint: Endpoint;
  #transport: Transport;
  #userAgent: string;
  /** The project every request is about (LXD's UseProject); none: the server's default. */
  readonly project: string | undefined;

  /**
   * keepAlive: requests reuse connections (as lxc's do), over the unix socket and HTTPS alike,
   * left open until close(); without it each takes a connection of its own over the unix
   * socket (nothing stays open), and over HTTPS only reads reuse one (transport.ts says why).
   */
  constructor(
    endpoint: Endpoint,
    options: { userAgent?: string; project?: string; keepAlive?: boolean } = {},
  ) {
    this.endpoint = endpoint;
    this.project = options.project || undefined;
    this.#transport = endpoint.kind === "unix"
      ? new UnixTransport(endpoint.path, { keepAlive: options.keepAlive })
      : new HttpsTransport(endpoint, { keepAlive: options.keepAlive });
    this.#userAgent = options.userAgent ?? "shoal";
  }

  /** A path with this client's ?project= added, unless it names one (as LXD's client does). */
  withProject(path: string): string {
    if (!this.project || !path.startsWith("/1.0/") || /[?&]project=/.test(path)) return path;
    return `${path}${path.includes("?") ? "&" : "?"}project=${encodeURIComponent(this.project)}`;
  }

  /** Sends a request and returns the raw envelope, whatever its type. */
  async raw(
    method: string,
    path: string,
    o: RequestOptions = {},
  ): Promise<{ status: number; headers: Headers; envelope: Envelope }> {
    const { res, envelope } = await this.#send(method, path, o);
    return { status: res.status, headers: res.headers, envelope };
  }

  /** Sends a request and parses its envelope; the answer's headers are made only if asked for. */
  async #send(
    method: string,
    path: string,
    o: RequestOptions,
  ): Promise<{ res: RawResponse; envelope: Envelope }> {
    const headers: Record<string, string> = { "User-Agent": this.#userAgent, ...(o.headers ?? {}) };
    let body: string | undefined;
    if (o.body !== undefined) {
      body = typeof o.body === "string" ? o.body : JSON.stringify(o.body);
      headers["Content-Type"] ??= "application/json";
    }
    const res = await this.#transport.request(
      method,
      this.withProject(path),
      body,
      headers,
      o.signal,
      o.idempotent,
    );
    let envelope: Envelope;
    try {
      envelope = JSON.parse(res.text);
    } catch {
      throw new StatusError(
        res.status || 500,
        `Invalid response from server (HTTP ${res.status}): ${res.text.slice(0, 200)}`,
      );
    }
    return { res, envelope };
  }

  /** Sends a request; throws StatusError on an error envelope. */
  async request<T = unknown>(method: string, path: string, o: RequestOptions = {}): Promise<Reply<T>> {
    const { res, envelope } = await this.#send(method, path, o);
    if (envelope.type === "error") throw new StatusError(envelope.error_code || res.status, envelope.error);
    const status = res.status;
    return {
      metadata: envelope.metadata as T,
      etag: (res.header ? res.header("etag") : res.headers.get("etag"))?.replace(/"/g, "") ?? undefined,
      operation: envelope.operation || undefined,
      status,
    };
  }

  async get<T = unknown>(path: string): Promise<T> {
    return (await this.request<T>("GET", path)).metadata;
  }

  /** Waits for an operation to end (timeout seconds, -1 none) and returns it. */
  async waitOperation(idOrUrl: string, timeoutSeconds = -1): Promise<Operation> {
    const id = idOrUrl.replace(/^\/1\.0\/operations\//, "");
    return await this.get<Operation>(
      `/1.0/operations/${encodeURIComponent(id)}/wait?timeout=${timeoutSeconds}`,
    );
  }

  /** Sends a request that answers with an operation, waits for it, and throws if it failed. */
  async runOperation(method: string, path: string, o: RequestOptions = {}): Promise<Operation> {
    const r = await this.request<Operation>(method, path, o);
    if (!r.operation) return r.metadata;
    const op = await this.waitOperation(r.operation);
    if (op.status_code !== 200) throw new StatusError(400, op.err || `Operation ${op.status}`);
    return op;
  }

  /** Subscribes to /1.0/events. */
  async events(
    types: EventType[],
    onEvent: (e: Event) => void,
    options: { allProjects?: boolean } = {},
  ): Promise<EventStream> {
    const q = new URLSearchParams();
    if (types.length) q.set("type", types.join(","));
    if (options.allProjects) q.set("all-projects", "true");
    const path = this.withProject(`/1.0/events?${q}`);
    const opened = Promise.withResolvers<void>();
    if (this.endpoint.kind === "unix") {
      const ws = new WebSocket(
        `ws://shoal${path}`,
        { client: (this.#transport as UnixTransport).httpClient } as unknown as string[],
      );
      ws.onmessage = (m) => onEvent(JSON.parse(String(m.data)));
      ws.onopen = () => opened.resolve();
      // Deno's WebSocket hides why an upgrade was refused: ask once more without it to learn.
      ws.onerror = () =>
        void this.raw("GET", path).then(
          (r) => opened.reject(new StatusError(r.envelope.error_code || r.status, r.envelope.error)),
          () => opened.reject(new Error("Failed to connect to the event stream")),
        );
      return { ready: opened.promise, close: () => ws.close() };
    }
    const t = this.#transport as HttpsTransport;
    const u = new URL(this.endpoint.url);
    // ws loads only here (~40 ms of a command's start otherwise: bench/cli.ts).
    // @ts-types="@types/ws"
    const { default: WebSocketClient } = await import("ws");
    const ws = new WebSocketClient(`wss://${u.host}${path}`, (await t.tlsOptions()) as WS.ClientOptions);
    ws.on("message", (data: WS.RawData) => onEvent(JSON.parse(data.toString())));
    ws.on("open", () => opened.resolve());
    ws.on("error", (e) => opened.reject(e));
    return { ready: opened.promise, close: () => ws.close() };
  }

  close(): void {
    this.#transport.close();
  }
}
