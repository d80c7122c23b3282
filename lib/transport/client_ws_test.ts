/**
 * The client websocket members open to each other, against the server members run (node:https asking for a
 * client certificate, npm ws answering the upgrade), on 127.0.0.212.
 */
import assert from "node:assert/strict";
import https from "node:https";
import net from "node:net";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
// @ts-types="@types/ws"
import { type WebSocket, WebSocketServer } from "ws";
import { fingerprint, generateKeyPair, type KeyPair } from "../tls/mod.ts";
import { connectWs, type WsClient, type WsClientOptions } from "./client_ws.ts";

const HOST = "127.0.0.212";

/** A member's listener as lib/daemon runs it; `sockets` are the accepted websockets. */
async function memberServer(tls: KeyPair) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  const server = https.createServer({
    cert: tls.cert,
    key: tls.key,
    requestCert: true,
    rejectUnauthorized: false,
  });
  const sockets: WebSocket[] = [];
  const clientPins: string[] = [];
  const received: (string | Uint8Array)[] = [];
  server.on("upgrade", (req, socket, head) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    clientPins.push(peer.fingerprint256?.replaceAll(":", "").toLowerCase() ?? "");
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.push(ws);
      ws.on("message", (d, binary) => received.push(binary ? new Uint8Array(d as Buffer) : String(d)));
    });
  });
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  return {
    address: `${HOST}:${(server.address() as AddressInfo).port}`,
    sockets,
    clientPins,
    received,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(null)));
    },
  };
}

/** Opens a client and records what it hears. */
function open(o: WsClientOptions) {
  const messages: (string | Uint8Array)[] = [];
  const closes: { err: Error | undefined; opened: boolean }[] = [];
  let opened!: () => void;
  let failed!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    opened = res;
    failed = rej;
  });
  ready.catch(() => {});
  const ws: WsClient = connectWs(o, {
    onOpen: () => opened(),
    onMessage: (d) => messages.push(d),
    onClose: (err, wasOpen) => {
      closes.push({ err, opened: wasOpen });
      failed(err ?? new Error("closed"));
    },
  });
  return { ws, ready, messages, closes };
}

async function waitFor(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name: `client websocket: ${name}`, sanitizeOps: false, sanitizeResources: false, fn });

test("opens with the member's certificate, carries messages both ways, answers ping, follows the server's close", async () => {
  const cluster = await generateKeyPair({ cn: "root@cluster", kind: "server", ips: [HOST] });
  const own = await generateKeyPair({ cn: "root@m1", kind: "server", ips: [HOST] });
  const s = await memberServer(cluster);
  try {
    const c = open({
      address: s.address,
      path: "/internal/x",
      ca: cluster.cert,
      pin: await fingerprint(cluster.cert),
      ...own,
    });
    await c.ready;
    assert.equal(c.ws.state, "open");
    assert.deepEqual(
      s.clientPins,
      [await fingerprint(own.cert)],
      "the member's own certificate was presented",
    );
    // Client to server: text and binary, in order, many sent in one turn.
    c.ws.send("héllo");
    c.ws.send(new Uint8Array([1, 2, 3]));
    const big = "x".repeat(70_000); // a 64-bit length
    c.ws.send(big);
    for (let i = 0; i < 100; i++) c.ws.send(`n${i}`);
    await waitFor("the server to receive all", () => s.received.length === 103);
    assert.equal(s.received[0], "héllo");
    assert.deepEqual(s.received[1], new Uint8Array([1, 2, 3]));
    assert.equal(s.received[2], big);
    assert.deepEqual(s.received.slice(3), Array.from({ length: 100 }, (_, i) => `n${i}`));
    // Server to client: text, binary, and a message in three fragments.
    const ws = s.sockets[0]!;
    ws.send("answer");
    ws.send(new Uint8Array([9, 8]));
    ws.send("frag-", { fin: false });
    ws.send("ment", { fin: false });
    ws.send("ed", { fin: true });
    await waitFor("the client to receive all", () => c.messages.length === 3);
    assert.deepEqual(c.messages, ["answer", new Uint8Array([9, 8]), "frag-mented"]);
    // Ping: answered with a pong carrying the same data.
    const pong = new Promise<string>((r) => ws.once("pong", (d) => r(String(d))));
    ws.ping("are-you-there");
    assert.equal(await pong, "are-you-there");
    // The server closes: the client answers with the same code and reports an orderly close once.
    const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
    ws.close(4001, "bye");
    assert.equal(await closed, 4001, "the client echoed the close code");
    await waitFor("the client to report the close", () => c.closes.length === 1);
    assert.deepEqual(c.closes, [{ err: undefined, opened: true }]);
    assert.equal(c.ws.state, "closed");
    assert.throws(() => c.ws.send("late"), /closed/);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(c.closes.length, 1, "close is reported once");
  } finally {
    await s.close();
  }
});

test("a server showing another certificate than the pinned one is refused before anything is sent", async () => {
  const cluster = await generateKeyPair({ cn: "root@cluster", kind: "server", ips: [HOST] });
  const other = await generateKeyPair({ cn: "root@other", kind: "server", ips: [HOST] });
  const s = await memberServer(other);
  try {
    const c = open({
      address: s.address,
      path: "/x",
      ca: cluster.cert,
      pin: await fingerprint(cluster.cert),
      ...cluster,
    });
    await assert.rejects(c.ready);
    assert.equal(c.closes.length, 1);
    assert.equal(c.closes[0]!.opened, false);
    assert.match(c.closes[0]!.err!.message, /certificate|fingerprint|self.signed/i);
    assert.equal(s.sockets.length, 0, "no upgrade reached the server");
    // And again: nothing of the refused attempt was kept.
    const again = open({
      address: s.address,
      path: "/x",
      ca: cluster.cert,
      pin: await fingerprint(cluster.cert),
      ...cluster,
    });
    await assert.rejects(again.ready);
    assert.equal(s.sockets.length, 0);
  } finally {
    await s.close();
  }
});

test("a CA:TRUE cluster certificate (which rustls would refuse) is taken", async () => {
  // What an operator may bring to `shoal cluster update-certificate`: openssl's default is CA:TRUE.
  const dir = await Deno.makeTempDir();
  try {
    const p = new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=byo",
        "-days",
        "2",
        "-keyout",
        `${dir}/k.pem`,
        "-out",
        `${dir}/c.pem`,
      ],
      stderr: "piped",
    });
    const r = await p.output();
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    const cluster = {
      cert: await Deno.readTextFile(`${dir}/c.pem`),
      key: await Deno.readTextFile(`${dir}/k.pem`),
    };
    const own = await generateKeyPair({ cn: "root@m1", kind: "server", ips: [HOST] });
    const s = await memberServer(cluster);
    try {
      const pin = await fingerprint(cluster.cert);
      const c = open({ address: s.address, path: "/x", ca: cluster.cert, pin, ...own });
      await c.ready;
      c.ws.send("over node:tls");
      await waitFor("the server to receive it", () => s.received.length === 1);
      s.sockets[0]!.send("back");
      await waitFor("the answer", () => c.messages.length === 1);
      assert.deepEqual(c.messages, ["back"]);
      c.ws.terminate();
      assert.deepEqual(c.closes, [{ err: undefined, opened: true }]);
    } finally {
      await s.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("a message over the limit closes the stream with an error", async () => {
  const cluster = await generateKeyPair({ cn: "root@cluster", kind: "server", ips: [HOST] });
  const s = await memberServer(cluster);
  try {
    const c = open({
      address: s.address,
      path: "/x",
      ca: cluster.cert,
      pin: await fingerprint(cluster.cert),
      ...cluster,
      maxMessageBytes: 1000,
    });
    await c.ready;
    const closed = new Promise<number>((r) => s.sockets[0]!.once("close", (code) => r(code)));
    s.sockets[0]!.send("y".repeat(1001));
    assert.equal(await closed, 1009);
    await waitFor("the client to report it", () => c.closes.length === 1);
    assert.match(c.closes[0]!.err!.message, /over 1000 bytes/);
    assert.deepEqual(c.messages, []);
  } finally {
    await s.close();
  }
});

test("a server that never completes the handshake times out; terminate while connecting reports once", async () => {
  const cluster = await generateKeyPair({ cn: "root@cluster", kind: "server", ips: [HOST] });
  const held: net.Socket[] = [];
  const silent = net.createServer((sock) => held.push(sock));
  await new Promise<void>((r) => silent.listen(0, HOST, () => r()));
  const address = `${HOST}:${(silent.address() as AddressInfo).port}`;
  try {
    const o = { address, path: "/x", ca: cluster.cert, pin: await fingerprint(cluster.cert), ...cluster };
    const c = open({ ...o, handshakeTimeoutMs: 300 });
    await assert.rejects(c.ready, /timed out/);
    const d = open(o);
    d.ws.terminate();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(d.closes, [{ err: undefined, opened: false }]);
    assert.equal(d.ws.state, "closed");
  } finally {
    for (const s of held) s.destroy();
    await new Promise((r) => silent.close(() => r(null)));
  }
});
