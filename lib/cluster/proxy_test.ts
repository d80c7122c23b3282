/**
 * MemberProxy.forward against a real mutual-TLS member on 127.0.0.87 that drops its connection
 * after reading a request: the member died right after it received a write. A forwarded write
 * must reach it once (the caller learns it failed), never twice.
 */
import assert from "node:assert/strict";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { generateKeyPair } from "../tls/mod.ts";
import { MemberProxy } from "./proxy.ts";

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
