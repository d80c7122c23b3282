import assert from "node:assert/strict";
import { StatusError } from "../util/mod.ts";
import { NotSent, serveTunnel, TunnelClient, type TunnelSocket } from "./ws_tunnel.ts";

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

Deno.test("a request on the tunnel reaches the member once, with its head and body, and its answer streams back", async () => {
  const [a, b] = pair();
  const seen: { method: string; url: string; caller: string | null; body: string }[] = [];
  serveTunnel(b, () => () => {}, async (req) => {
    seen.push({
      method: req.method,
      url: req.url,
      caller: req.headers.get("x-caller"),
      body: await req.text(),
    });
    if (req.method === "DELETE") return new Response(null, { status: 204 });
    const parts = ['{"type":', '"async"}'];
    return new Response(
      new ReadableStream({
        pull(c) {
          const p = parts.shift();
          if (p === undefined) c.close();
          else c.enqueue(new TextEncoder().encode(p));
        },
      }),
      { status: 202, headers: { Location: "/1.0/operations/x" } },
    );
  }, "https://m2:8443");
  const t = new TunnelClient(a);
  assert.equal(await t.takesRequests, true);
  const res = await t.request(
    { method: "POST", path: "/1.0/instances/c1/exec?project=p", headers: { "x-caller": "unix" } },
    new TextEncoder().encode('{"command":["true"]}'),
  );
  assert.equal(res.status, 202);
  assert.equal(res.headers.get("location"), "/1.0/operations/x");
  assert.equal(await res.text(), '{"type":"async"}');
  const empty = await t.request({ method: "DELETE", path: "/1.0/instances/c1", headers: {} }, null);
  assert.equal(empty.status, 204);
  assert.equal(empty.body, null);
  assert.deepEqual(seen, [
    {
      method: "POST",
      url: "https://m2:8443/1.0/instances/c1/exec?project=p",
      caller: "unix",
      body: '{"command":["true"]}',
    },
    { method: "DELETE", url: "https://m2:8443/1.0/instances/c1", caller: null, body: "" },
  ]);
});

Deno.test("a request whose tunnel breaks before the answer fails, and is never sent again", async () => {
  const [a, b] = pair();
  let runs = 0;
  serveTunnel(b, () => () => {}, () => {
    runs++;
    b.close(); // the member dies once it has the request
    return new Promise(() => {});
  });
  const t = new TunnelClient(a);
  const e = await t.request({ method: "POST", path: "/1.0/instances", headers: {} }, null).catch((e) => e);
  assert.ok(
    e instanceof StatusError && e.status === 503 && /may or may not have taken effect/.test(e.message),
  );
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(runs, 1);
  // Once the tunnel is known gone, a request is refused before it leaves (NotSent: safe to send elsewhere).
  assert.ok(
    await t.request({ method: "POST", path: "/1.0/instances", headers: {} }, null).catch((e) => e) instanceof
      NotSent,
  );
});

Deno.test("a member that takes no requests on its tunnel says no HELLO, and one sent anyway is refused", async () => {
  const [a, b] = pair();
  serveTunnel(b, () => () => {});
  const t = new TunnelClient(a, { helloTimeoutMs: 30 });
  assert.equal(await t.takesRequests, false);
  const e = await t.request({ method: "POST", path: "/1.0/instances", headers: {} }, null).catch((e) => e);
  assert.ok(e instanceof StatusError && e.status === 404, String(e));
});

Deno.test("a request whose caller aborts is cancelled on the member: its signal aborts there", async () => {
  const [a, b] = pair();
  let memberSaw = "";
  serveTunnel(b, () => () => {}, (req) =>
    new Promise((resolve) => {
      req.signal.addEventListener("abort", () => {
        memberSaw = "aborted";
        resolve(new Response("{}"));
      });
    }));
  const t = new TunnelClient(a);
  const caller = new AbortController();
  const waiting = t.request(
    { method: "GET", path: "/1.0/operations/x/wait", headers: {} },
    null,
    caller.signal,
  )
    .catch((e) => e);
  await tick();
  caller.abort(new Error("the client went"));
  assert.equal((await waiting).message, "the client went");
  for (let i = 0; i < 50 && memberSaw === ""; i++) await tick();
  assert.equal(memberSaw, "aborted");
  // The tunnel carries on.
  assert.equal(t.isOpen, true);
});
