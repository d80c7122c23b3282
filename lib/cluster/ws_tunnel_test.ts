import assert from "node:assert/strict";
import { StatusError } from "../util/mod.ts";
import { serveTunnel, TunnelClient, type TunnelSocket } from "./ws_tunnel.ts";

/** Two ends of an in-memory websocket: what one sends, the other receives (asynchronously). */
function pair(): [TunnelSocket, TunnelSocket] {
  const ends = [0, 1].map(() => ({
    msg: [] as ((d: string | Uint8Array) => void)[],
    close: [] as (() => void)[],
    closed: false,
  }));
  const make = (me: number): TunnelSocket => ({
    send: (d) => void queueMicrotask(() => ends[1 - me]!.msg.forEach((h) => h(d))),
    close: () => {
      for (const e of ends) {
        if (e.closed) continue;
        e.closed = true;
        queueMicrotask(() => e.close.forEach((h) => h()));
      }
    },
    onMessage: (h) => void ends[me]!.msg.push(h),
    onClose: (h) => void ends[me]!.close.push(h),
  });
  return [make(0), make(1)];
}

/** A client side of a bridged stream that records what reaches it. */
function recorder() {
  const got: (string | Uint8Array)[] = [];
  let closed = false;
  return {
    got,
    closed: () => closed,
    socket: {
      send: (d: string | Uint8Array) => void got.push(d),
      close: () => void (closed = true),
      onMessage() {},
      onClose() {},
    },
  };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("a tunnel carries streams both ways, text and binary, and their closes", async () => {
  const [a, b] = pair();
  const served: TunnelSocket[] = [];
  serveTunnel(b, (path) => {
    if (path.includes("missing")) throw new StatusError(404, "Operation not found");
    return (s) => {
      served.push(s);
      s.onMessage((d) => s.send(typeof d === "string" ? `echo ${d}` : d));
    };
  });
  const t = new TunnelClient(a);
  const up = await t.stream("/1.0/operations/x/websocket?secret=s");
  const r = recorder();
  up.setClient(r.socket);
  up.send("hi");
  up.send(new Uint8Array([1, 2, 3]));
  up.send("");
  await tick();
  await tick();
  assert.deepEqual(r.got, ["echo hi", new Uint8Array([1, 2, 3]), "echo "]);
  // A second stream at the same time is its own.
  const up2 = await t.stream("/1.0/operations/y/websocket?secret=s");
  const r2 = recorder();
  up2.setClient(r2.socket);
  served[1]!.send("only two");
  await tick();
  assert.deepEqual(r2.got, ["only two"]);
  assert.equal(r.got.length, 3);
  // The owner closes stream 1: its client closes; the other stays.
  served[0]!.close();
  await tick();
  assert.equal(r.closed(), true);
  assert.equal(r2.closed(), false);
  // The client leaves stream 2: the owner's socket sees the close.
  let ownerSawClose = false;
  served[1]!.onClose(() => ownerSawClose = true);
  up2.close();
  await tick();
  await tick();
  assert.equal(ownerSawClose, true);

  const refused = await t.stream("/1.0/operations/missing/websocket?secret=s").catch((e) => e);
  assert.ok(
    refused instanceof StatusError && refused.status === 404 && refused.message === "Operation not found",
  );
  const other = await t.stream("/internal/raft").catch((e) => e);
  assert.ok(other instanceof StatusError && other.status === 403);
});

Deno.test("when the tunnel goes, its streams end and a new one is needed", async () => {
  const [a, b] = pair();
  let owner: TunnelSocket | null = null;
  serveTunnel(b, () => (s) => void (owner = s));
  const t = new TunnelClient(a);
  const up = await t.stream("/1.0/operations/x/websocket?secret=s");
  const r = recorder();
  up.setClient(r.socket);
  let ownerClosed = false;
  owner!.onClose(() => ownerClosed = true);
  a.close();
  await tick();
  await tick();
  assert.equal(r.closed(), true);
  assert.equal(ownerClosed, true);
  assert.equal(t.isOpen, false);
  await assert.rejects(t.stream("/1.0/operations/z/websocket"), /tunnel closed/);
});

Deno.test("a member silent on its tunnel: the stream is refused in time and the tunnel given up", async () => {
  const [a] = pair();
  const t = new TunnelClient(a, { openTimeoutMs: 50 });
  const e = await t.stream("/1.0/operations/x/websocket?secret=s").catch((e) => e);
  assert.ok(e instanceof StatusError && e.status === 503, String(e));
  assert.equal(t.isOpen, false);
  await tick();
});
