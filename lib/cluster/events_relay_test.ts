/**
 * The relay against a member played by a real HTTPS + websocket server on 127.0.0.85 with the
 * cluster certificate: a member that appears is connected to, what it raised before we
 * connected is fetched once, nothing arrives twice, and a dropped stream is reopened.
 */
import assert from "node:assert/strict";
import https from "node:https";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
// @ts-types="@types/ws"
import { type WebSocket, WebSocketServer } from "ws";
import type { GlobalDB } from "../db/mod.ts";
import { type Event, EventHub } from "../events/mod.ts";
import { RootLogger } from "../log/mod.ts";
import { generateKeyPair } from "../tls/mod.ts";
import { MemberClients } from "./connect.ts";
import { EventRelay } from "./events_relay.ts";

const HOST = "127.0.0.85";

function lifecycle(action: string, at: string): Event {
  return {
    type: "lifecycle",
    timestamp: at,
    metadata: { action, source: "/1.0/cluster/members/peer", context: {}, requestor: null },
    location: "peer",
    project: "default",
  };
}

async function waitUntil(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test({
  name: "event relay: a new member's earlier events once, its stream's events once, reconnects",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const tls = await generateKeyPair({ cn: "root@peer", kind: "server", ips: [HOST] });
    const before = lifecycle("cluster-member-added", new Date(Date.now() - 2_000).toISOString());
    const live = lifecycle("cluster-member-updated", new Date().toISOString());
    const next = lifecycle("config-updated", new Date().toISOString());
    const sockets: WebSocket[] = [];
    const fetched: string[] = [];
    const wss = new WebSocketServer({ noServer: true });
    const server = https.createServer(
      { cert: tls.cert, key: tls.key, ca: tls.cert, requestCert: true, rejectUnauthorized: true },
      (req: IncomingMessage, res) => {
        fetched.push(req.url ?? "");
        // The member's recent events include the one its stream also sends.
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({
          type: "sync",
          status: "Success",
          status_code: 200,
          metadata: [before, live],
        }));
      },
    );
    server.on("upgrade", (req, socket, head) => {
      // It asks for the events of a turn in one frame, one per line (api/websocket.ts).
      assert.match(req.url ?? "", /^\/1\.0\/events\?all-projects=true&shoal-events=lines$/);
      wss.handleUpgrade(req, socket, head, (ws) => {
        sockets.push(ws);
        ws.send(`${JSON.stringify(live)}\n${JSON.stringify(next)}`);
      });
    });
    await new Promise<void>((r) => server.listen(0, HOST, () => r()));
    const peer = `${HOST}:${(server.address() as AddressInfo).port}`;
    const self = `${HOST}:1`;
    let addresses = [self];
    const db = {
      readStale: <R>(fn: (tx: unknown) => R): R =>
        fn({ query: () => addresses.map((address) => ({ address })) }),
    } as unknown as GlobalDB;
    const hub = new EventHub(() => "self");
    const got: Event[] = [];
    const toMembers: Event[] = [];
    hub.subscribe({ types: ["lifecycle"], allProjects: true }, (e) => got.push(e));
    hub.subscribe({ types: ["lifecycle"], allProjects: true, localOnly: true }, (e) => toMembers.push(e));
    const log = new RootLogger({ stderrLevel: null });
    const clients = new MemberClients(() => tls, () => tls);
    const relay = new EventRelay({
      events: hub,
      db,
      log,
      tls: () => tls,
      clientCert: () => tls,
      address: () => self,
      clients,
      everyMs: 50,
    });
    try {
      relay.start();
      await new Promise((r) => setTimeout(r, 200));
      addresses = [self, peer]; // the member joins
      await waitUntil("the three events", () => got.length >= 3);
      await waitUntil("the replay", () => fetched.length === 1);
      assert.match(fetched[0]!, /^\/internal\/events\/recent\?since=\d+$/);
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(got.map((e) => (e.metadata as { action: string }).action).sort(), [
        "cluster-member-added",
        "cluster-member-updated",
        "config-updated",
      ]);
      assert.ok(got.every((e) => e.location === "peer"));
      assert.equal(toMembers.length, 0, "relayed events must not go on to other members");
      // A dropped stream is reopened; the events it sends again are not delivered again.
      sockets[0]!.terminate();
      await waitUntil("a second connection", () => sockets.length === 2 && relay.connected().length === 1);
      await waitUntil("the replay after the drop", () => fetched.length === 2);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(got.length, 3);
      // A member that leaves is let go.
      addresses = [self];
      await waitUntil("the stream closed", () => relay.connected().length === 0);
    } finally {
      relay.stop();
      clients.reset();
      for (const ws of wss.clients) ws.terminate();
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(null)));
      log.close();
    }
  },
});
