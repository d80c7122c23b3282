/**
 * Websocket streams cannot make the daemon buffer without end (issue 11: a 50 MiB frame to
 * /1.0/events was accepted, and the daemon's memory went from 79 to 386 MB): a message over a
 * stream's limit closes it (1009) over mutual TLS and over the unix socket, and an event
 * listener that stops reading is dropped (1008) while one that reads goes on; one client address
 * holds at most MAX_CONNECTIONS_PER_ADDRESS connections. Addresses 127.0.0.64 (the member),
 * 127.0.0.65-66 (clients).
 */
import assert from "node:assert/strict";
import net from "node:net";
// @ts-types="@types/ws"
import WS from "ws";
import { pinnedIdentity } from "../../lib/client/mod.ts";
import { fingerprint, generateKeyPair, type KeyPair } from "../../lib/tls/mod.ts";
import { MAX_CONNECTIONS_PER_ADDRESS } from "../../lib/daemon/listeners.ts";
import { busyboxImage, PRESEED, stopContainers } from "../compat/instances_helpers.ts";
import { Member, tempDir, waitFor } from "../helpers/member.ts";

const ADDR = "127.0.0.64";

async function openTls(path: string, served: string, cert: KeyPair, localAddress?: string): Promise<WS> {
  const pin = await fingerprint(served);
  const ws = new WS(`wss://${ADDR}:8443${path}`, {
    ...(localAddress ? { localAddress } : {}),
    ca: served,
    cert: cert.cert,
    key: cert.key,
    checkServerIdentity: pinnedIdentity(pin),
    handshakeTimeout: 10_000,
  } as unknown as WS.ClientOptions);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  return ws;
}

async function openUnix(socket: string, path: string): Promise<WS> {
  const ws = new WS(`ws+unix://${socket}:${path}`);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  return ws;
}

/** The close code the server ends ws with, or 0 when it did not within timeoutMs. */
function closed(ws: WS, timeoutMs = 20_000): Promise<number> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(0), timeoutMs);
    ws.once("close", (code: number) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

Deno.test("websocket streams: messages over the limit close the stream; a listener that stops reading is dropped", async (t) => {
  await using tmp = await tempDir("trust-streams");
  const m = await new Member(`${tmp.path}/m1`, "m1", {}, [], { debug: false }).start();
  const open: WS[] = [];
  try {
    const p = await m.shoald(["init", "--preseed"], {
      stdin: `config:\n  core.https_address: ${ADDR}:8443\n${PRESEED}`,
    });
    assert.equal(p.code, 0, p.stderr);
    const client = await generateKeyPair({ cn: "streams", kind: "client" });
    await m.client().request("POST", "/1.0/certificates", {
      body: { name: "s", type: "client", certificate: client.cert },
    });
    const served = await Deno.readTextFile(`${m.dir}/server.crt`);
    await waitFor("the HTTPS listener", async () => {
      const c = await Deno.connect({ hostname: ADDR, port: 8443 });
      c.close();
      return true;
    });

    await t.step(
      "a 2 MiB message to /1.0/events closes the stream with 1009, over TLS and the unix socket",
      async () => {
        const big = "x".repeat(2 << 20);
        for (const how of ["tls", "unix"]) {
          const ws = how === "tls"
            ? await openTls("/1.0/events", served, client)
            : await openUnix(m.socket, "/1.0/events");
          open.push(ws);
          const code = closed(ws);
          ws.send(big);
          assert.equal(await code, 1009, `${how}: the stream took a 2 MiB message`);
          // A small one is taken (and ignored, as LXD ignores what listeners send).
          const ok = how === "tls"
            ? await openTls("/1.0/events", served, client)
            : await openUnix(m.socket, "/1.0/events");
          open.push(ok);
          ok.send("{}");
          assert.equal(await closed(ok, 1000), 0, `${how}: a small message closed the stream`);
        }
        assert.equal((await m.shoal(["info"])).code, 0);
      },
    );

    await t.step(
      "one address holds at most MAX_CONNECTIONS_PER_ADDRESS connections; others are served",
      async () => {
        const connect = (localAddress: string) =>
          new Promise<net.Socket>((resolve, reject) => {
            const s = net.connect({ host: ADDR, port: 8443, localAddress }, () => resolve(s));
            s.once("error", reject);
          });
        /** Whether the daemon closed s within ms (it never speaks first on TLS). */
        const closedBy = (s: net.Socket, ms: number) =>
          new Promise<boolean>((resolve) => {
            if (s.destroyed || s.readableEnded) return resolve(true);
            const t = setTimeout(() => resolve(false), ms);
            s.once("close", () => (clearTimeout(t), resolve(true)));
          });
        const held: net.Socket[] = [];
        try {
          for (let i = 0; i < MAX_CONNECTIONS_PER_ADDRESS; i++) held.push(await connect("127.0.0.65"));
          const over = await connect("127.0.0.65");
          held.push(over);
          assert.ok(await closedBy(over, 10_000), "a connection over the cap stayed open");
          assert.ok(!(await closedBy(held[0]!, 500)), "a connection within the cap was closed");
          // Another address is served meanwhile.
          const other = await openTls("/1.0/events", served, client, "127.0.0.66");
          other.close();
          // A freed place is taken again.
          held.shift()!.destroy();
          await waitFor("a place for 127.0.0.65 again", async () => {
            const s = await connect("127.0.0.65");
            held.push(s);
            return !(await closedBy(s, 300));
          });
        } finally {
          for (const s of held) s.destroy();
        }
        assert.equal((await m.shoal(["info"])).code, 0);
      },
    );

    await t.step("an event listener that stops reading is dropped; one that reads goes on", async () => {
      assert.equal(
        (await m.shoal(["image", "import", await busyboxImage(tmp.path), "--alias", "bb"])).code,
        0,
      );
      const l = await m.shoal(["launch", "bb", "c1"]);
      assert.equal(l.code, 0, l.stderr);
      const reader = await openTls("/1.0/events?type=operation", served, client);
      open.push(reader);
      let read = 0;
      reader.on("message", (d: Buffer) => (read += d.length));
      // The stalled listener, by hand on the unix socket: the upgrade, then it never reads again,
      // so the kernel's buffers fill, then the daemon's. (A paused node socket in Deno still reads.)
      const stalled = await Deno.connect({ transport: "unix", path: m.socket });
      const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
      await stalled.write(
        new TextEncoder().encode(
          `GET /1.0/events?type=operation HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`,
        ),
      );
      let head = "";
      const buf = new Uint8Array(1);
      while (!head.endsWith("\r\n\r\n")) {
        const n = await stalled.read(buf);
        assert.ok(n, "the upgrade got no answer");
        head += String.fromCharCode(buf[0]!);
      }
      assert.match(head, /^HTTP\/1\.1 101/);
      // Exec operations carry their environment in every event: 600 KiB a piece.
      const environment = { FILL: "y".repeat(600 << 10) };
      let sent = 0;
      await waitFor(
        "the daemon to drop the stalled listener",
        async () => {
          await m.client().request("POST", "/1.0/instances/c1/exec", {
            body: { command: ["true"], environment, "wait-for-websocket": false, interactive: false },
          });
          sent++;
          return (await m.logTail(50)).includes("Dropped an event listener that stopped reading");
        },
        60_000,
        200,
      );
      // The reader got everything, the stalled one's share was not kept for it.
      await waitFor("the reader to have the events", () => read >= sent * 2 * (600 << 10), 30_000);
      assert.equal(reader.readyState, WS.OPEN);
      // Reading again, the stalled one gets what was on its way, then the close frame (1008):
      // 0x88, the length, then the code, big-endian. It does not answer it; stop at a quiet 3 s.
      let rest = 0;
      let tail = new Uint8Array(0);
      const b = new Uint8Array(1 << 16);
      for (;;) {
        const n = await Promise.race([
          stalled.read(b).catch(() => null),
          new Promise<null>((r) => setTimeout(() => r(null), 3000)),
        ]);
        if (n === null) break;
        rest += n;
        tail = new Uint8Array([...tail.slice(-64), ...b.subarray(0, n)]);
      }
      stalled.close();
      const closeFrame = tail.findLastIndex((x, i) =>
        x === 0x88 && tail[i + 2] === 0x03 && tail[i + 3] === 0xf0
      );
      assert.ok(closeFrame >= 0, "the stalled listener's stream did not end with a 1008 close");
      assert.ok(rest < sent * 2 * (600 << 10), `the stalled listener got all ${rest} bytes`);
      console.log(
        `events: the stalled listener was dropped after ${sent} exec operations, ${rest} bytes reached it`,
      );
    });
  } finally {
    for (const ws of open) ws.terminate();
    await stopContainers(m.dir);
    await m.stop();
  }
});
