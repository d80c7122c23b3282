/**
 * The Raft transport against a real mutual-TLS websocket server (node https + ws, as a member's
 * listener) on 127.0.0.205: messages arrive, and a certificate update reconnects the stream
 * without reporting the peer lost (which makes a follower campaign against a live leader).
 */
import assert from "node:assert/strict";
import https from "node:https";
import type { AddressInfo } from "node:net";
// @ts-types="@types/ws"
import { WebSocketServer } from "ws";
import { silentLogger } from "../log/mod.ts";
import { fingerprint, generateKeyPair, type KeyPair } from "../tls/mod.ts";
import { decodeBatch } from "./codec.ts";
import { type Addressed, RAFT_STREAM_PATH, WsTransport } from "./ws.ts";

const HOST = "127.0.0.205";

type Msg = Addressed & { n: number };

async function raftServer(pair: KeyPair) {
  const got: number[] = [];
  let connections = 0;
  const server = https.createServer({
    cert: pair.cert,
    key: pair.key,
    requestCert: true,
    rejectUnauthorized: false,
  });
  const wss = new WebSocketServer({ server, path: RAFT_STREAM_PATH, perMessageDeflate: false });
  wss.on("connection", (ws) => {
    connections++;
    ws.on("message", (data) => {
      for (const m of decodeBatch<Msg>(String(data)).messages) got.push(m.n);
    });
  });
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    got,
    connections: () => connections,
    setCertificate: (p: KeyPair) => server.setSecureContext({ cert: p.cert, key: p.key }),
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(null)));
    },
  };
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test({
  name: "ws transport: a certificate update reconnects with the new one and reports no peer lost",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const [a, b, member] = await Promise.all([
      generateKeyPair({ cn: "cluster-a", kind: "server", ips: [HOST] }),
      generateKeyPair({ cn: "cluster-b", kind: "server", ips: [HOST] }),
      generateKeyPair({ cn: "member", kind: "server", ips: [HOST] }),
    ]);
    const s = await raftServer(a);
    const lost: number[] = [];
    const t = new WsTransport<Msg>({
      self: 1,
      tls: a,
      clientCert: () => member,
      pin: await fingerprint(a.cert),
      log: silentLogger,
      onLost: (id) => lost.push(id),
    });
    try {
      t.setPeers(new Map([[2, `${HOST}:${s.port}`]]));
      t.send([{ to: 2, type: "app", entries: [1], n: 1 }]);
      await until("the first message", () => s.got.includes(1));

      s.setCertificate(b);
      t.setTls(b, await fingerprint(b.cert));
      // Nothing to send for a while (a quiet cluster between heartbeats): the old stream's close
      // event comes first.
      await new Promise((r) => setTimeout(r, 200));
      t.send([{ to: 2, type: "app", entries: [1], n: 2 }]);
      await until("a message on the new certificate", () => s.got.includes(2));
      assert.equal(s.connections(), 2, "one stream per certificate");
      assert.deepEqual(lost, [], "a deliberate reconnect reported the peer lost");
    } finally {
      t.close();
      await s.close();
    }
  },
});
