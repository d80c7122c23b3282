import assert from "node:assert/strict";
import { EventHub } from "../events/mod.ts";
import { silentLogger } from "../log/mod.ts";
import type { OpSocket } from "../operations/mod.ts";
import type { Identity, ServerContext } from "./context.ts";
import { websocketRoute } from "./websocket.ts";

const who = (kind: Identity["kind"]): Identity => ({
  kind,
  trusted: true,
  protocol: kind === "member" ? "cluster" : "tls",
  fingerprint: "f".repeat(64),
  address: "127.0.0.220:5000",
  certificate: null,
  projects: [],
  member: kind === "member" ? "m2" : null,
  joiner: null,
});

/** The frames an event listener is sent for three events raised in one turn. */
async function frames(identity: Identity, path: string): Promise<string[]> {
  const events = new EventHub(() => "m1");
  const ctx = { events, log: silentLogger } as unknown as ServerContext;
  const sent: string[] = [];
  const socket: OpSocket = {
    send: (d) => sent.push(String(d)),
    close: () => {},
    onMessage: () => {},
    onClose: () => {},
  };
  (await websocketRoute(ctx, new URL(`https://m1:8443${path}`), identity))(socket);
  for (const action of ["a", "b", "c"]) events.lifecycle(action, "/1.0");
  await new Promise((r) => setTimeout(r, 20));
  return sent;
}

Deno.test("events: a member that asks for lines gets a turn's events in one frame; any other listener one a frame", async () => {
  const lines = await frames(who("member"), "/1.0/events?all-projects=true&shoal-events=lines");
  assert.equal(lines.length, 1);
  assert.deepEqual(
    lines[0]!.split("\n").map((t) => JSON.parse(t).metadata.action),
    ["a", "b", "c"],
  );
  // An older member does not ask; a client that asks is not a member.
  for (
    const [kind, path] of [["member", "/1.0/events"], ["client", "/1.0/events?shoal-events=lines"]] as const
  ) {
    const sent = await frames(who(kind), path);
    assert.deepEqual(sent.map((t) => JSON.parse(t).metadata.action), ["a", "b", "c"], `${kind} ${path}`);
  }
});
