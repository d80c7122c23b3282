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
import { HttpsTransport, UnixTransport } from "./transport.ts";

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

/**
 * A raw HTTP/1.1 server on a unix socket: answers every request on a kept-alive connection,
 * except /drop, whose connection it closes once the whole request is in, and /bye, whose
 * connection it closes once answered (as a daemon closes an idle connection). accepted()
 * counts the connections it took.
 */
function rawUnixServer(path: string, seen: string[]): { close(): void; accepted(): number } {
  const listener = Deno.listen({ transport: "unix", path });
  const conns = new Set<Deno.Conn>();
  let accepted = 0;
  void (async () => {
    for await (const conn of listener) {
      accepted++;
      conns.add(conn);
      void (async () => {
        let buf = "";
        const chunk = new Uint8Array(8192);
        try {
          for (;;) {
            const n = await conn.read(chunk);
            if (n === null) break;
            buf += new TextDecoder().decode(chunk.subarray(0, n));
            for (;;) {
              const end = buf.indexOf("\r\n\r\n");
              if (end < 0) break;
              const head = buf.slice(0, end);
              const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
              if (buf.length < end + 4 + length) break;
              buf = buf.slice(end + 4 + length);
              const [method, target] = head.split(" ");
              const url = target!.replace(/^http:\/\/shoal/, ""); // the unix "proxy" sends the absolute form
              seen.push(`${method} ${url}`);
              if (url === "/drop") throw new Error("drop");
              await conn.write(
                new TextEncoder().encode(
                  "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
                ),
              );
              if (url === "/bye") throw new Error("bye");
            }
          }
        } catch { /* dropped on purpose, or gone */ }
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
      })();
    }
  })().catch(() => {});
  return {
    accepted: () => accepted,
    close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

Deno.test({
  name: "over the unix socket too, a change whose connection breaks after delivery is delivered once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const socket = `${dir}/unix.socket`;
    const seen: string[] = [];
    const server = rawUnixServer(socket, seen);
    const t = new UnixTransport(socket);
    try {
      for (let i = 0; i < 2; i++) assert.equal((await t.request("POST", "/ok", "{}", {})).status, 200);
      await assert.rejects(t.request("POST", "/drop", "{}", {}));
      assert.equal((await t.request("GET", "/ok", undefined, {})).status, 200);
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(seen, ["POST /ok", "POST /ok", "POST /drop", "GET /ok"]);
    } finally {
      t.close();
      server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "kept-alive unix connections are reused, and a change on one is still delivered once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const socket = `${dir}/unix.socket`;
    const seen: string[] = [];
    const server = rawUnixServer(socket, seen);
    const t = new UnixTransport(socket, { keepAlive: true });
    const settle = () => new Promise((r) => setTimeout(r, 200));
    try {
      for (let i = 0; i < 3; i++) assert.equal((await t.request("POST", "/ok", "{}", {})).status, 200);
      assert.equal(server.accepted(), 1, "three requests, one connection");
      // Received on the kept-alive connection, which then breaks: an error, and never sent again.
      await assert.rejects(t.request("POST", "/drop", "{}", {}));
      assert.equal((await t.request("GET", "/ok", undefined, {})).status, 200);
      assert.equal(server.accepted(), 2);
      // The daemon closes a connection once idle: the next request takes a new one.
      assert.equal((await t.request("GET", "/bye", undefined, {})).status, 200);
      await settle();
      assert.equal((await t.request("POST", "/ok", "{}", {})).status, 200);
      assert.equal(server.accepted(), 3);
      await settle();
      assert.deepEqual(seen, [
        "POST /ok",
        "POST /ok",
        "POST /ok",
        "POST /drop",
        "GET /ok",
        "GET /bye",
        "POST /ok",
      ]);
    } finally {
      t.close();
      server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "an idle kept-alive connection (unix socket, HTTPS) does not keep a program running",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const socket = `${dir}/unix.socket`;
    const server = rawUnixServer(socket, []);
    const tls = await generateKeyPair({ cn: "root@m", kind: "server", ips: ["127.0.0.55"] });
    const httpsServer = https.createServer(
      { cert: tls.cert, key: tls.key, ca: tls.cert, requestCert: true, rejectUnauthorized: true },
      (_req, res) => res.writeHead(200, { "Content-Type": "application/json" }).end("{}"),
    );
    await new Promise<void>((r) => httpsServer.listen(0, "127.0.0.55", () => r()));
    const endpoint = {
      kind: "https",
      url: `https://127.0.0.55:${(httpsServer.address() as AddressInfo).port}`,
      serverCert: tls.cert,
      clientCert: tls,
    };
    const transport = new URL("./transport.ts", import.meta.url);
    try {
      // A program that asks once and forgets close(): it must end by itself.
      for (
        const make of [
          `new UnixTransport(${JSON.stringify(socket)}, { keepAlive: true })`,
          `new HttpsTransport(${JSON.stringify(endpoint)}, { keepAlive: true })`,
        ]
      ) {
        const code = `import { HttpsTransport, UnixTransport } from "${transport}";
          const t = ${make};
          console.log((await t.request("GET", "/ok", undefined, {})).status);`;
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["eval", "--no-check", code],
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(20_000),
        }).output();
        assert.equal(
          new TextDecoder().decode(out.stdout).trim(),
          "200",
          new TextDecoder().decode(out.stderr),
        );
        assert.equal(out.code, 0, make);
      }
      assert.equal(server.accepted(), 1);
    } finally {
      server.close();
      httpsServer.closeAllConnections();
      await new Promise((r) => httpsServer.close(() => r(null)));
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "kept-alive HTTPS connections are reused for changes too, each still delivered once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const tls = await generateKeyPair({ cn: "root@m", kind: "server", ips: ["127.0.0.54"] });
    const seen: string[] = [];
    let connections = 0;
    const server = https.createServer(
      { cert: tls.cert, key: tls.key, ca: tls.cert, requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        req.on("data", () => {});
        req.on("end", () => {
          seen.push(`${req.method} ${req.url} ${req.headers.host}`);
          if (req.url === "/drop") req.socket.destroy(); // received, never answered
          else if (req.url === "/hang") return; // the caller aborts
          else res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
        });
      },
    );
    server.on("secureConnection", () => connections++);
    await new Promise<void>((r) => server.listen(0, "127.0.0.54", () => r()));
    const port = (server.address() as AddressInfo).port;
    const endpoint = {
      kind: "https" as const,
      url: `https://127.0.0.54:${port}`,
      serverCert: tls.cert,
      clientCert: tls,
    };
    const t = new HttpsTransport(endpoint, { keepAlive: true });
    const settle = () => new Promise((r) => setTimeout(r, 300));
    try {
      for (let i = 0; i < 3; i++) assert.equal((await t.request("POST", "/ok", "{}", {})).status, 200);
      assert.equal((await t.request("GET", "/ok", undefined, {})).status, 200);
      assert.equal(connections, 1, "four requests, one handshake");
      await assert.rejects(t.request("POST", "/drop", "{}", {}));
      await assert.rejects(
        t.request("POST", "/hang", "{}", {}, AbortSignal.timeout(300)),
        (e: Error) => e.name === "TimeoutError",
      );
      assert.equal((await t.request("PATCH", "/ok", "{}", {})).status, 200);
      await settle();
      const host = `127.0.0.54:${port}`;
      assert.deepEqual(seen, [
        ...["POST", "POST", "POST", "GET"].map((m) => `${m} /ok ${host}`),
        `POST /drop ${host}`,
        `POST /hang ${host}`,
        `PATCH /ok ${host}`,
      ]);
      assert.equal(connections, 3);
      // Another server's certificate is refused before anything is sent.
      const other = await generateKeyPair({ cn: "root@x", kind: "server", ips: ["127.0.0.54"] });
      const wrong = new HttpsTransport({ ...endpoint, serverCert: other.cert }, { keepAlive: true });
      await assert.rejects(wrong.request("POST", "/ok", "{}", {}));
      wrong.close();
      await settle();
      assert.equal(seen.length, 7);
    } finally {
      t.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(null)));
    }
  },
});
