/**
 * MemberProxy.forward against a real mutual-TLS member on 127.0.0.87 that drops its connection
 * after reading a request: the member died right after it received a write. A forwarded write
 * must reach it once (the caller learns it failed), never twice: over a connection of its own
 * (a member without a tunnel) and over the member's tunnel.
 */
import assert from "node:assert/strict";
import https from "node:https";
import type { AddressInfo } from "node:net";
// @ts-types="@types/ws"
import WS, { WebSocketServer } from "ws";
import { generateKeyPair } from "../tls/mod.ts";
import { MemberProxy } from "./proxy.ts";
import { serveTunnel, TUNNEL_PATH } from "./ws_tunnel.ts";

const HOST = "127.0.0.87";

Deno.test({
  name: "a forwarded write whose connection breaks after delivery is not sent again; reads reuse connections",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const tls = await generateKeyPair({ cn: "root@m", kind: "server", ips: [HOST] });
    const seen: string[] = [];
    const sockets = new Set<unknown>();
    const server = https.createServer(
      { cert: tls.cert, key: tls.key, ca: tls.cert, requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        sockets.add(req.socket);
        req.resume();
        req.on("end", () => {
          seen.push(req.method!);
          // The first write of each method is answered; from the second on, the member "dies"
          // with it. Reads are always answered.
          if (req.method === "GET" || seen.filter((m) => m === req.method).length === 1) res.end("{}");
          else req.socket.destroy();
        });
      },
    );
    await new Promise<void>((r) => server.listen(0, HOST, () => r()));
    const address = `${HOST}:${(server.address() as AddressInfo).port}`;
    const proxy = new MemberProxy(() => tls, () => tls);
    const send = (method: string, body?: string) =>
      proxy.forward("m2", address, new Request(`https://x/1.0/instances/c1`, { method, body }), {});
    try {
      for (const [method, body] of [["POST", '{"name":"c2"}'], ["DELETE", undefined]] as const) {
        const first = await send(method, body);
        assert.equal(first.status, 200);
        // The caller goes away without reading the answer: nothing may throw later.
        await first.body?.cancel();
        await assert.rejects(send(method, body), /Failed to reach cluster member "m2"/);
        await new Promise((r) => setTimeout(r, 500)); // a resend would have arrived by now
        assert.equal(seen.filter((m) => m === method).length, 2, `${method} reached the member: ${seen}`);
      }
      // Reads keep their connection: two GETs over one socket.
      const before = sockets.size;
      for (let i = 0; i < 2; i++) {
        const r = await send("GET");
        assert.equal(r.status, 200);
        await r.text();
      }
      assert.equal(sockets.size, before + 1, "two reads, one connection");
    } finally {
      proxy.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(null)));
    }
  },
});

Deno.test({
  name:
    "forwarded writes ride the member's tunnel, one connection for many; one lost with the tunnel is not sent again",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const tls = await generateKeyPair({ cn: "root@m", kind: "server", ips: [HOST] });
    const seen: string[] = [];
    let connections = 0;
    const server = https.createServer(
      { cert: tls.cert, key: tls.key, ca: tls.cert, requestCert: true, rejectUnauthorized: true },
      (_req, res) => {
        seen.push("plain");
        res.end("{}");
      },
    );
    server.on("secureConnection", () => connections++);
    const wss = new WebSocketServer({ noServer: true });
    server.on("upgrade", (req, socket, head) => {
      if (req.url !== TUNNEL_PATH) return void socket.destroy();
      wss.handleUpgrade(req, socket, head, (ws: WS) => {
        const onMessage: ((d: string | Uint8Array) => void)[] = [];
        ws.on("message", (d, isBinary) => {
          const buf = Buffer.from(d as ArrayBuffer);
          for (const h of onMessage) h(isBinary ? new Uint8Array(buf) : buf.toString("utf8"));
        });
        serveTunnel(
          {
            send: (d) => ws.send(d, { binary: typeof d !== "string" }),
            close: () => ws.close(),
            onMessage: (h) => void onMessage.push(h),
            onClose: (h) => void ws.on("close", h),
          },
          () => () => {},
          async (req) => {
            const body = await req.text();
            seen.push(
              `${req.method} ${new URL(req.url).pathname} ${body} ${req.headers.get("x-shoal-caller")}`,
            );
            // The second write: the member dies with it, unanswered.
            if (seen.filter((s) => s.startsWith("POST")).length === 2) {
              ws.terminate();
              return new Promise(() => {});
            }
            return new Response('{"type":"sync"}', { status: 200 });
          },
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, HOST, () => r()));
    const address = `${HOST}:${(server.address() as AddressInfo).port}`;
    const proxy = new MemberProxy(() => tls, () => tls);
    const post = (name: string) =>
      proxy.forward(
        "m2",
        address,
        new Request(`https://x/1.0/instances`, {
          method: "POST",
          body: `{"name":"${name}"}`,
          headers: { "content-length": String(`{"name":"${name}"}`.length) },
        }),
        { "X-Shoal-Caller": "unix" },
      );
    try {
      const first = await post("c1");
      assert.equal(first.status, 200);
      assert.equal(await first.text(), '{"type":"sync"}');
      await assert.rejects(post("c2"), /Failed to reach cluster member "m2"/);
      await new Promise((r) => setTimeout(r, 500)); // a resend would have arrived by now
      const third = await post("c3");
      assert.equal(await third.text(), '{"type":"sync"}');
      assert.deepEqual(seen, [
        'POST /1.0/instances {"name":"c1"} unix',
        'POST /1.0/instances {"name":"c2"} unix',
        'POST /1.0/instances {"name":"c3"} unix',
      ]);
      // Three writes, two tunnels (the first died with c2): no connection of their own.
      assert.equal(connections, 2);
    } finally {
      proxy.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(null)));
    }
  },
});
