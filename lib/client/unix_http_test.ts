/**
 * unixRequest and UnixConnections against a real HTTP server on a unix socket (Deno.serve, as
 * hyper frames its answers: Content-Length, chunked for streamed bodies), and the same answers
 * through Deno's fetch beside it; a socket nobody listens on; an abort while the server holds
 * its answer. Kept-alive connections (transport_test.ts has the raw server that counts them):
 * reused, dropped when the daemon closes them, and never holding a program open.
 */
import assert from "node:assert/strict";
import { dechunk, parseAnswer, UnixConnections, unixRequest } from "./unix_http.ts";

Deno.test({
  name: "unixRequest reads what fetch reads over the same unix socket",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "shoal-unix-http-" });
    const socket = `${dir}/unix.socket`;
    const big = "é".repeat(300_000); // 600 kB of two-byte characters: many reads, split characters
    const held = Promise.withResolvers<void>();
    const server = Deno.serve({ path: socket, onListen() {} }, async (req) => {
      const u = new URL(req.url);
      if (u.pathname === "/echo") {
        return Response.json({
          method: req.method,
          body: await req.text(),
          agent: req.headers.get("user-agent"),
          type: req.headers.get("content-type"),
          query: u.search,
        }, { headers: { ETag: '"e1"' } });
      }
      if (u.pathname === "/big") return new Response(big);
      if (u.pathname === "/stream") {
        const parts = ["one ", "two ", big];
        return new Response(
          new ReadableStream({
            pull(c) {
              const p = parts.shift();
              if (p === undefined) c.close();
              else c.enqueue(new TextEncoder().encode(p));
            },
          }),
          { status: 202 },
        );
      }
      if (u.pathname === "/none") return new Response(null, { status: 204 });
      if (u.pathname === "/hold") {
        await held.promise;
        return new Response("late");
      }
      return new Response("missing", { status: 404 });
    });
    const http = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
    const kept = new UnixConnections(socket);
    try {
      const cases: [string, string, string | undefined, Record<string, string>][] = [
        ["GET", "/echo?recursion=1&project=p%201", undefined, { "User-Agent": "shoal" }],
        ["POST", "/echo", '{"name":"c1"}', { "User-Agent": "shoal", "Content-Type": "application/json" }],
        ["PATCH", "/echo", "", {}],
        ["PUT", "/echo", '{"name":"é ✓ 𝄞"}', { "Content-Type": "application/json" }],
        ["DELETE", "/echo", undefined, {}],
        ["GET", "/big", undefined, {}],
        ["GET", "/stream", undefined, {}],
        ["GET", "/none", undefined, {}],
        ["HEAD", "/big", undefined, {}],
        ["GET", "/nowhere", undefined, {}],
      ];
      // Twice through the kept-alive connections: each answer must end where the next begins.
      const once = (m: string, p: string, b: string | undefined, h: Record<string, string>) =>
        unixRequest(socket, m, p, b, h);
      const reused = (m: string, p: string, b: string | undefined, h: Record<string, string>) =>
        kept.request(m, p, b, h);
      for (const send of [once, reused, reused]) {
        for (const [method, path, body, headers] of cases) {
          const ours = await send(method, path, body, headers);
          const res = await fetch(`http://shoal${path}`, { method, body, headers, client: http });
          const theirs = { status: res.status, text: await res.text() };
          assert.deepEqual({ status: ours.status, text: ours.text }, theirs, `${method} ${path}`);
          assert.equal(
            ours.headers.get("content-type"),
            res.headers.get("content-type"),
            `${method} ${path}`,
          );
          assert.equal(ours.headers.get("etag"), res.headers.get("etag"), `${method} ${path}`);
        }
      }

      // An abort ends the request at once, with the signal's reason, as fetch's does.
      const ac = new AbortController();
      const pending = unixRequest(socket, "GET", "/hold", undefined, {}, ac.signal);
      setTimeout(() => ac.abort(), 100);
      await assert.rejects(pending, (e: Error) => e.name === "AbortError");
      await assert.rejects(
        unixRequest(socket, "GET", "/echo", undefined, {}, AbortSignal.abort()),
        (e: Error) => e.name === "AbortError",
      );
      // On a kept-alive connection too; the next request takes another and is answered.
      const ac2 = new AbortController();
      const pending2 = kept.request("GET", "/hold", undefined, {}, ac2.signal);
      setTimeout(() => ac2.abort(), 100);
      await assert.rejects(pending2, (e: Error) => e.name === "AbortError");
      assert.equal((await kept.request("GET", "/echo", undefined, {})).status, 200);
      held.resolve();
    } finally {
      kept.close();
      http.close();
      await server.shutdown();
    }
    // Nobody listening: an error that names the socket and what to check.
    await assert.rejects(
      unixRequest(socket, "GET", "/1.0", undefined, {}),
      (e: Error) => e.message.includes(socket) && /is shoald running/.test(e.message),
    );
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("parseAnswer waits for the whole answer and refuses a broken one", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  assert.equal(parseAnswer(enc("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"), "GET", false), null);
  assert.equal(
    parseAnswer(enc("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde"), "GET", false)?.text,
    "abcde",
  );
  assert.equal(parseAnswer(enc("HTTP/1.1 200 OK\r\n\r\nuntil close"), "GET", false), null);
  assert.equal(parseAnswer(enc("HTTP/1.1 200 OK\r\n\r\nuntil close"), "GET", true)?.text, "until close");
  assert.throws(
    () => parseAnswer(enc("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"), "GET", true),
    /before the end/,
  );
  assert.throws(
    () => parseAnswer(enc("HTTP/1.1 200 OK\r\nConte"), "GET", true),
    /before its answer's headers/,
  );
  assert.throws(() => parseAnswer(enc("SMTP ready\r\n\r\n"), "GET", false), /malformed status line/);
  assert.equal(dechunk(enc("3\r\nabc\r\n2\r\nde\r\n")), null);
  assert.equal(dechunk(enc("3\r\nabc\r\n0\r\n")), null);
  assert.deepEqual(dechunk(enc("3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n")), { body: enc("abcde"), taken: 24 });
  assert.deepEqual(dechunk(enc("1\r\na\r\n0\r\nX: y\r\n\r\nmore")), { body: enc("a"), taken: 17 });
  // Whether the connection can carry the next request.
  const ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
  assert.equal(parseAnswer(enc(ok), "GET", false)?.reusable, true);
  assert.equal(parseAnswer(enc(ok.replace("1.1", "1.0")), "GET", false)?.reusable, false);
  assert.equal(parseAnswer(enc(ok.replace("OK", "OK\r\nConnection: close")), "GET", false)?.reusable, false);
  assert.equal(parseAnswer(enc(ok + "extra"), "GET", false)?.reusable, false);
  assert.equal(parseAnswer(enc("HTTP/1.1 200 OK\r\n\r\nuntil close"), "GET", true)?.reusable, false);
  assert.throws(() => dechunk(enc("zz\r\nabc\r\n")), /malformed chunk size/);
});
