import type { EventType } from "../wire/mod.ts";
import type { OpSocket } from "../operations/mod.ts";
import { badRequest, forbidden, notFound } from "../util/mod.ts";
import type { Identity, ServerContext } from "./context.ts";

/** Runs one accepted websocket. */
export type WsHandler = (socket: OpSocket) => void;

const EVENT_TYPES: readonly EventType[] = ["operation", "lifecycle", "logging"];

function eventsHandler(ctx: ServerContext, url: URL, localOnly = false): WsHandler {
  const asked = (url.searchParams.get("type") ?? "").split(",").map((t) => t.trim()).filter((t) => t !== "");
  for (const t of asked) {
    if (!EVENT_TYPES.includes(t as EventType)) throw badRequest(`"${t}" isn't a supported event type`);
  }
  const types = asked.length === 0 ? EVENT_TYPES : asked as EventType[];
  const allProjects = url.searchParams.get("all-projects") === "true";
  const project = url.searchParams.get("project") ?? "default";
  return (socket) => {
    const unsubscribe = ctx.events.subscribe(
      { types, project, allProjects, localOnly },
      (e) => socket.send(JSON.stringify(e)),
    );
    socket.onClose(unsubscribe);
    // Listeners only read; anything they send is ignored, as in LXD.
    socket.onMessage(() => {});
  };
}

/**
 * Decides what serves a websocket upgrade on this path, or throws the StatusError to answer
 * instead. The listeners call this before they accept the upgrade.
 */
export function websocketRoute(ctx: ServerContext, url: URL, identity: Identity): WsHandler {
  if (url.pathname === "/1.0/events") {
    if (!identity.trusted) throw forbidden();
    // Another member relays our events to its own listeners: it gets only ours (full mesh).
    return eventsHandler(ctx, url, identity.protocol === "cluster");
  }
  if (url.pathname === "/internal/raft") {
    // Another member's Raft stream: batches of messages, one per frame.
    if (identity.protocol !== "cluster" || !ctx.cluster) throw forbidden();
    const gateway = ctx.cluster.gateway;
    return (socket) => {
      socket.onMessage((data) => {
        try {
          gateway.receive(typeof data === "string" ? data : new TextDecoder().decode(data));
        } catch (e) {
          ctx.log.debug("Dropped a Raft batch", { err: e instanceof Error ? e.message : String(e) });
        }
      });
      socket.onClose(() => {});
    };
  }
  const m = /^\/1\.0\/operations\/([^/]+)\/websocket$/.exec(url.pathname);
  if (m) {
    const op = ctx.operations.get(decodeURIComponent(m[1]!));
    const secret = url.searchParams.get("secret") ?? "";
    if (op.spec.class !== "websocket" || !op.spec.connect) throw badRequest("Operation has no websockets");
    if (secret === "") throw forbidden();
    return (socket) => op.spec.connect!(op, secret, socket);
  }
  throw notFound();
}
