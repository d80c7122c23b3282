/** The call stream's dispatch, over a real wss listener on 127.0.0.49. */
import assert from "node:assert/strict";
import https from "node:https";
import type { AddressInfo } from "node:net";
// @ts-types="@types/ws"
import { WebSocketServer } from "ws";
import { fingerprint, generateKeyPair } from "../tls/mod.ts";
import { StatusError } from "../util/mod.ts";
import { CALL_STREAM_PATH, STREAM_CALLS } from "./member_calls.ts";
import { MemberStreams } from "./member_streams.ts";

const HOST = "127.0.0.49";

Deno.test({
  name:
    "MemberStreams: a registered call is answered with its caller's name; unknown calls and removed callers are refused",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const tls = await generateKeyPair({ cn: "root@member", kind: "server", ips: [HOST] });
    const pin = await fingerprint(tls.cert);
    const answering = new MemberStreams(() => ({ pair: tls, pin }), () => tls);
    const calling = new MemberStreams(() => ({ pair: tls, pin }), () => tls);
    let member: string | null = "m2";
    answering.handle(STREAM_CALLS.openSession, (req, caller) => {
      if (req.id === "bad") return Promise.reject(new StatusError(400, "Malformed session id"));
      return Promise.resolve({ caller } as unknown as Record<string, never>);
    });
    const wss = new WebSocketServer({ noServer: true });
    const server = https.createServer({ cert: tls.cert, key: tls.key, ca: tls.cert, requestCert: true });
    let path = "";
    server.on("upgrade", (req, socket, head) => {
      path = req.url ?? "";
      wss.handleUpgrade(req, socket, head, (ws) =>
        answering.serve({
          send: (d) => ws.send(d),
          onMessage: (h) => ws.on("message", (d) => h(String(d))),
          onClose: (h) => ws.on("close", h),
        }, () => member));
    });
    await new Promise<void>((r) => server.listen(0, HOST, () => r()));
    const address = `${HOST}:${(server.address() as AddressInfo).port}`;
    try {
      assert.deepEqual(await calling.call(address, STREAM_CALLS.openSession, { id: "x" }), { caller: "m2" });
      assert.equal(path, CALL_STREAM_PATH);
      await assert.rejects(
        calling.call(address, STREAM_CALLS.openSession, { id: "bad" }),
        (e) => e instanceof StatusError && e.status === 400 && e.message === "Malformed session id",
      );
      await assert.rejects(
        calling.call(address, STREAM_CALLS.transactions, { transactions: [] }),
        (e) =>
          e instanceof StatusError && e.status === 404 &&
          /Unknown member call "transactions"/.test(e.message),
      );
      member = null;
      await assert.rejects(
        calling.call(address, STREAM_CALLS.openSession, { id: "x" }),
        (e) => e instanceof StatusError && e.status === 403,
      );
    } finally {
      calling.close();
      for (const ws of wss.clients) ws.terminate();
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(null)));
    }
  },
});
