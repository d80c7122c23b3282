/**
 * An operation's websocket (/1.0/operations/ID/websocket?secret=S: exec's stdin, stdout and
 * control), over the unix socket or pinned HTTPS alike.
 * @module
 */
// ws and node:buffer load only when a socket is opened (~50 ms of a command's start: bench/cli.ts).
// @ts-types="@types/ws"
import type WS from "ws";
import type { Client } from "./client.ts";
import { HttpsTransport } from "./transport.ts";

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
