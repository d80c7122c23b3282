import { setImmediate } from "node:timers";
import type { Event, EventType } from "../wire/mod.ts";
import type { OpSocket } from "../operations/mod.ts";
import { badRequest, forbidden, notFound } from "../util/mod.ts";
import type { Identity, ServerContext } from "./context.ts";
import { allowed, requestProject, WEBSOCKET_ACCESS } from "./access.ts";
import { authenticateFingerprint, recheckMember } from "./auth.ts";
import { listNodes } from "../db/mod.ts";
import { CALL_STREAM_PATH, ForgedFrame, serveTunnel, TUNNEL_PATH } from "../cluster/mod.ts";

/** Runs one accepted websocket. */
export type WsHandler = (socket: OpSocket) => void;

/**
 * The largest websocket message a stream takes; a bigger one closes it (1009) before it is
 * buffered further. Event listeners and operation control streams carry small JSON; an
 * operation's data streams carry what a client types or pipes; members' streams carry Raft
 * batches and snapshots (the whole database in one message) and forwarded requests.
 */
export const CONTROL_FRAME_MAX = 1 << 20;
export const DATA_FRAME_MAX = 8 << 20;
export const MEMBER_FRAME_MAX = 100 << 20;

/** The message limit of the stream a websocket path opens (see CONTROL_FRAME_MAX). */
export function frameLimit(url: URL): number {
  if (url.pathname.startsWith("/internal/")) return MEMBER_FRAME_MAX;
  if (url.pathname.startsWith("/1.0/operations/")) return DATA_FRAME_MAX;
  return CONTROL_FRAME_MAX;
}

/**
 * How far an event listener may fall behind (bytes sent to it and not yet taken by its
 * connection) before it is dropped: a reader that stops reading is closed (1008), not buffered
 * for without end while every event of the cluster piles up for it.
 */
export const EVENTS_BACKLOG_MAX = 1 << 20;

const EVENT_TYPES: readonly EventType[] = ["operation", "lifecycle", "logging"];

/**
 * The query parameter with which a member asks for events as lines: several events per frame,
 * one JSON text each, joined by "\n" (which JSON.stringify never writes). A member of an older
 * version does not ask, and gets one event per frame, as any other listener.
 */
export const EVENT_LINES_PARAM = "shoal-events";
/** A frame of lines is cut after this many characters (the relay's frames stay small). */
const EVENT_LINES_FRAME = 64 * 1024;

/**
 * The text of an event, made once for all its listeners (each other member listens): the hub
 * hands one event to every listener in the same turn, so the text is the same "now" for them all.
 */
const texts = new WeakMap<Event, string>();
function eventText(e: Event): string {
  let text = texts.get(e);
  if (text === undefined) texts.set(e, text = JSON.stringify(e));
  return text;
}

function eventsHandler(ctx: ServerContext, url: URL, identity: Identity): WsHandler {
  const asked = (url.searchParams.get("type") ?? "").split(",").map((t) => t.trim()).filter((t) => t !== "");
  for (const t of asked) {
    if (!EVENT_TYPES.includes(t as EventType)) throw badRequest(`"${t}" isn't a supported event type`);
  }
  const types = asked.length === 0 ? EVENT_TYPES : asked as EventType[];
  // A restricted client hears its project only, whatever it asks for.
  const allProjects = identity.kind !== "restricted" && url.searchParams.get("all-projects") === "true";
  const project = requestProject(url);
  // Another member relays our events to its own listeners: it gets only ours (full mesh).
  const localOnly = identity.kind === "member";
  // A member that asks for them (events_relay.ts) takes the events of one turn in one frame.
  const lines = localOnly && url.searchParams.get(EVENT_LINES_PARAM) === "lines";
  return (socket) => {
    // Events leave after the answer of the request that raised them, not before it: a handler
    // raises its event before it answers, and each frame is a TLS write (~0.1 ms) that the
    // answer waited for (PATCH /1.0 via the leader tells two members: 0.24 ms of a write's
    // 2.1). Deno writes an answer only when JavaScript yields to the runtime, after this turn's
    // immediates: an immediate queued from an immediate runs after that write (strace). The
    // text is made now, since an event's metadata may change after it was raised.
    let queue: string[] = [];
    let queued = 0;
    const flush = () => {
      const q = queue;
      queue = [];
      queued = 0;
      if (!lines) {
        for (const text of q) socket.send(text);
        return;
      }
      // Each frame is a TLS write of its own (~0.07 ms in a busy daemon, more than the event):
      // a leader taking writes from 16 clients raises several events a turn, for each member.
      let from = 0, size = 0;
      for (let i = 0; i < q.length; i++) {
        size += q[i]!.length + 1;
        if (size >= EVENT_LINES_FRAME || i === q.length - 1) {
          socket.send(from === i ? q[i]! : q.slice(from, i + 1).join("\n"));
          from = i + 1;
          size = 0;
        }
      }
    };
    const unsubscribe = ctx.events.subscribe(
      { types, project, allProjects, localOnly },
      (e) => {
        if ((socket.buffered?.() ?? 0) + queued > EVENTS_BACKLOG_MAX) {
          unsubscribe();
          queue = [];
          ctx.log.warn("Dropped an event listener that stopped reading", { ip: identity.address });
          socket.close(1008, "Events were not read: the listener fell too far behind");
          return;
        }
        const text = eventText(e);
        if (queue.length === 0) setImmediate(() => setImmediate(flush));
        queue.push(text);
        queued += text.length;
      },
    );
    socket.onClose(unsubscribe);
    // Listeners only read; anything they send is ignored, as in LXD.
    socket.onMessage(() => {});
  };
}

/** The Raft id of a member, by name (null: not a member). */
function raftIdOf(ctx: ServerContext, member: string | null): number | null {
  if (member === null) return null;
  let rows: { id: number; name: string }[] = [];
  try {
    rows = ctx.db.readStale((tx) => listNodes(tx));
  } catch { /* a joiner's database is empty until the leader fills it */ }
  // A joiner knows the members from the leader's answer (raft_nodes) before its database has them.
  return rows.find((n) => n.name === member)?.id ??
    ctx.cluster?.gateway.raftNodes().find((n) => n.name === member)?.id ??
    null;
}

/**
 * A member stream's peer, checked again in the background (recheckMember: on a spare the leader
 * is asked) at most every RECHECK_MS, and only once the database moved since the last answer:
 * nothing else can end a membership. An answer that cannot be had keeps the last one and is
 * asked again. (Checked at every frame whatever moved, the leader's Raft streams from four
 * replicas read the member list 16 times a second: a fifth of its CPU at rest with 16 members.)
 */
function peerCheck<T>(ctx: ServerContext, fp: string, first: T, of: (member: string | null) => T): () => T {
  let value = first, checked = Date.now(), checking = false, at = ctx.db.readVersion;
  return () => {
    if (!checking && Date.now() - checked > RECHECK_MS && ctx.db.readVersion !== at) {
      checking = true;
      const version = ctx.db.readVersion;
      recheckMember(ctx, fp).then((m) => {
        if (m === undefined) return;
        value = of(m);
        at = version;
      }, () => {/* kept */}).finally(() => {
        checked = Date.now();
        checking = false;
      });
    }
    return value;
  };
}

/**
 * Another member's Raft stream. Its certificate names the member; every frame must carry that
 * member's Raft id, and the member must still be one (checked again every RECHECK_MS): a frame
 * that claims another id, or does not parse, closes the stream and is logged, and a removed
 * member's stream is closed at a frame soon after.
 */
function raftHandler(ctx: ServerContext, identity: Identity): WsHandler {
  const gateway = ctx.cluster!.gateway;
  const of = (member: string | null) => raftIdOf(ctx, member);
  const current = peerCheck(
    ctx,
    identity.fingerprint,
    of(authenticateFingerprint(ctx, identity.fingerprint)),
    of,
  );
  return (socket) => {
    socket.onMessage((data) => {
      const peer = current();
      const refuse = (why: string) => {
        ctx.log.warn("Closed a Raft stream", {
          ip: identity.address,
          member: identity.member ?? "",
          reason: why,
        });
        socket.close(1008, "Forged or malformed Raft frame");
      };
      if (peer === null) return refuse("the certificate is no longer a member's");
      try {
        gateway.receiveFrom(peer, typeof data === "string" ? data : new TextDecoder().decode(data));
      } catch (e) {
        if (e instanceof ForgedFrame) return refuse(e.message);
        ctx.log.debug("Dropped a Raft batch", { err: e instanceof Error ? e.message : String(e) });
      }
    });
    socket.onClose(() => {});
  };
}

/** How often a Raft stream checks that its member is still one. */
const RECHECK_MS = 250;

/**
 * Another member's call stream (lib/cluster/member_streams.ts): each call is answered by the
 * part of lib/cluster that registered it, while the certificate is still a member's.
 */
function callsHandler(ctx: ServerContext, identity: Identity): WsHandler {
  const streams = ctx.cluster!.self.streams;
  const first = identity.member ?? authenticateFingerprint(ctx, identity.fingerprint);
  const caller = peerCheck(ctx, identity.fingerprint, first, (m) => m);
  return (socket) => streams.serve(socket, caller);
}

/**
 * Decides what serves a websocket upgrade on this path, or throws the StatusError to answer
 * instead. The listeners call this before they accept the upgrade; who may open which stream is
 * declared in access.ts (WEBSOCKET_ACCESS).
 */
export function websocketRoute(
  ctx: ServerContext,
  url: URL,
  identity: Identity,
): WsHandler | Promise<WsHandler> {
  const check = (route: string) => {
    if (!allowed(identity, WEBSOCKET_ACCESS[route], requestProject(url))) throw forbidden();
  };
  if (url.pathname === "/1.0/events") {
    check("GET /1.0/events");
    return eventsHandler(ctx, url, identity);
  }
  if (url.pathname === "/internal/raft") {
    check("GET /internal/raft");
    if (!ctx.cluster) throw forbidden();
    return raftHandler(ctx, identity);
  }
  if (url.pathname === CALL_STREAM_PATH) {
    check(`GET ${CALL_STREAM_PATH}`);
    if (!ctx.cluster) throw forbidden();
    return callsHandler(ctx, identity);
  }
  if (url.pathname === TUNNEL_PATH) {
    // Another member's tunnel (ws_tunnel.ts): each stream on it is served as its own websocket
    // from that member would be (only operation streams; never proxied on from here).
    check(`GET ${TUNNEL_PATH}`);
    if (!ctx.cluster) throw forbidden();
    // Its requests (forwarded writes) are served as if they came over HTTPS from that member.
    const peer = {
      transport: "tls",
      address: identity.address,
      fingerprint: identity.fingerprint,
      certificate: identity.certificate,
    } as const;
    const serve = ctx.serveFromMember;
    return (socket) =>
      serveTunnel(
        socket,
        (path) => websocketRoute(ctx, new URL(path, url), identity),
        serve && ((req) => serve(req, peer)),
        `https://${url.host}`,
      );
  }
  const m = /^\/1\.0\/operations\/([^/]+)\/websocket$/.exec(url.pathname);
  if (m) {
    check("GET /1.0/operations/:id/websocket");
    let opId: string;
    try {
      opId = decodeURIComponent(m[1]!);
    } catch {
      throw badRequest("Invalid operation id: bad percent-encoding");
    }
    const op = ctx.operations.find(opId);
    if (!op) {
      // Another member's operation (an exec or console forwarded there): its stream is proxied
      // frame by frame. Members never ask each other on, so a stream is proxied once at most.
      if (!ctx.proxyWebsocket || identity.kind === "member") throw notFound("Operation not found");
      return ctx.proxyWebsocket(opId, url.pathname + url.search, identity);
    }
    const secret = url.searchParams.get("secret") ?? "";
    if (op.spec.class !== "websocket" || !op.spec.connect) throw badRequest("Operation has no websockets");
    if (secret === "") throw forbidden();
    return (socket) => op.spec.connect!(op, secret, socket);
  }
  throw notFound();
}
