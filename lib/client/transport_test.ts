/**
 * HttpsTransport against a real mutual-TLS server on 127.0.0.86 that answers twice on a
 * keep-alive connection and then goes silent: the next request must fail when its signal
 * aborts (a frozen member must not hang its caller). And on 127.0.0.53: a change is delivered
 * once, whether its connection breaks after the server received it or its caller aborts it.
 */
import assert from "node:assert/strict";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { generateKeyPair } from "../tls/mod.ts";
import { HttpsTransport } from "./transport.ts";

Deno.test({
  name: "an aborted request fails even on a reused keep-alive socket that gets no answer",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const tls = await generateKeyPair({ cn: "root@m", kind: "server", ips: ["127.0.0.86"] });
    let n = 0;
    const server = https.createServer(
      { cert: tls.cert, key: tls.key, ca: tls.cert, requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        req.on("data", () => {});
        req.on("end", () => {
          if (++n > 2) return; // frozen from the third request on
          res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
        });
      },
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.86", () => r()));
    const port = (server.address() as AddressInfo).port;
    const t = new HttpsTransport({
      kind: "https",
      url: `https://127.0.0.86:${port}`,
      serverCert: tls.cert,
      clientCert: tls,
    });
    try {
      // GET: reads reuse kept-alive connections (changes take one each, see the test below).
      for (let i = 0; i < 2; i++) assert.equal((await t.request("GET", "/", undefined, {})).status, 200);
      for (let i = 0; i < 2; i++) {
        const t0 = performance.now();
        let guard: ReturnType<typeof setTimeout> | undefined;
        const outcome = await Promise.race([
          t.request("GET", "/", undefined, {}, AbortSignal.timeout(500)).then(
            () => "answered",
            (e) => e.name,
          ),
          new Promise((r) => (guard = setTimeout(() => r("still pending after 10 s"), 10_000))),
        ]);
        clearTimeout(guard);
        assert.equal(outcome, "TimeoutError");
        assert.ok(performance.now() - t0 < 9_000);
      }
    } finally {
      t.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(null)));
    }
  },
});

Deno.test({
  name: "a change is delivered once when its connection breaks after delivery or its caller aborts it",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const tls = await generateKeyPair({ cn: "root@m", kind: "server", ips: ["127.0.0.53"] });
    const seen: string[] = [];
    const server = https.createServer(
      { cert: tls.cert, key: tls.key, ca: tls.cert, requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        req.on("data", () => {});
        req.on("end", () => {
          seen.push(`${req.method} ${req.url}`);
          if (req.url === "/drop") req.socket.destroy(); // received, never answered
          else if (req.url === "/hang") return; // received, answered never: the caller aborts
          else res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
        });
      },
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.53", () => r()));
    const port = (server.address() as AddressInfo).port;
    const t = new HttpsTransport({
      kind: "https",
      url: `https://127.0.0.53:${port}`,
      serverCert: tls.cert,
      clientCert: tls,
    });
    const settle = () => new Promise((r) => setTimeout(r, 500));
    try {
      // Answered POSTs first: with keep-alive, the next ones would reuse their connection.
      for (let i = 0; i < 2; i++) assert.equal((await t.request("POST", "/ok", "{}", {})).status, 200);
      await assert.rejects(t.request("POST", "/drop", "{}", {}));
      await assert.rejects(
        t.request("POST", "/hang", "{}", {}, AbortSignal.timeout(300)),
        /TimeoutError|timed out/,
      );
      // A heartbeat says it is idempotent: it may reuse a connection, and still goes through.
      assert.equal((await t.request("PUT", "/ok", "{}", {}, undefined, true)).status, 200);
      await settle();
      assert.deepEqual(seen, ["POST /ok", "POST /ok", "POST /drop", "POST /hang", "PUT /ok"]);
    } finally {
      t.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(null)));
    }
  },
});
