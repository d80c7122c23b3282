import type { Client } from "../client/mod.ts";
import type { KeyPair } from "../tls/mod.ts";
import type { MemberState } from "./doctor_state.ts";
import type { Family } from "../util/metrics.ts";
import type { RemoteQuery, Row } from "../db/mod.ts";
import type {
  AcceptReply,
  CertificatesPost,
  Event,
  ForwardedResult,
  ForwardedTx,
  Heartbeat,
  HeartbeatReply,
  JoinRequest,
  JoinToken,
  MemberPart,
} from "../wire/mod.ts";

/**
 * One call a member makes to another: its method, the route the API mounts it on, and how one
 * request becomes a path and a body. `Req` and `Rep` type the request and the reply, so a caller
 * never spells a URL nor guesses what comes back.
 */
export interface MemberCall<Req, Rep> {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  /** The route as the API mounts it (a Hono pattern). */
  readonly route: string;
  path(req: Req): string;
  /** The request body (undefined: none, as for GET and DELETE). */
  body(req: Req): unknown;
  /**
   * Sending it twice does what sending it once does, with the same answer: it may use a
   * kept-alive connection (lib/client/transport.ts). Other changes take a connection each.
   */
  readonly idempotent?: boolean;
  /** Never set: carries the reply's type. */
  readonly reply?: Rep;
}

function call<Req, Rep>(
  method: MemberCall<Req, Rep>["method"],
  route: string,
  shape: { path?: (req: Req) => string; body?: (req: Req) => unknown; idempotent?: boolean } = {},
): MemberCall<Req, Rep> {
  return {
    method,
    route,
    path: shape.path ?? (() => route),
    body: shape.body ?? ((req) => req),
    idempotent: shape.idempotent ?? false,
  };
}

type Empty = Record<string, never>;

/** What a member that takes a moved instance is told (instance_moves.ts). */
export interface ArrivalCall {
  project: string;
  name: string;
  newName: string;
  from: string;
  /** The move's id, as the source's mark has it. */
  moveId: string;
  offer: { id: string; secret: string };
  /** The instance's snapshots, offered with its volume. */
  snapshots?: string[];
}

/**
 * Every call between members, in one place (LXD spreads these over lxd/cluster). The routes
 * that answer them are in lib/api/routes (cluster.ts, events.ts); the Raft stream itself is
 * lib/transport's.
 */
export const MEMBER_CALLS = {
  /** The leader's heartbeat to every member (heartbeat.ts). */
  heartbeat: call<Heartbeat, HeartbeatReply>("PUT", "/internal/heartbeat", { idempotent: true }),
  /** A joiner asks the leader to record it (join.ts; forwarded by a follower, membership.ts). */
  accept: call<JoinRequest, AcceptReply>("POST", "/internal/cluster/accept"),
  /** A join token issued by another member is used up there (tokens.ts). */
  redeemToken: call<JoinToken, void>("POST", "/internal/cluster/redeem-token"),
  /** A voter about to stop asks the leader to give its seat to a stand-by (handover.ts). */
  handover: call<{ id: number }, void>("POST", "/internal/cluster/handover"),
  /** The leader tells a removed member to become standalone (membership.ts). */
  left: call<Empty, void>("POST", "/internal/cluster/left"),
  /** A new member asks the leader to give it a database role now (join.ts). */
  rebalance: call<Empty, void>("POST", "/internal/cluster/rebalance"),
  /** Install a new cluster certificate (certificate.ts). */
  certificate: call<KeyPair, void>("PUT", "/internal/cluster/certificate"),
  /** A member's events since a time, after its stream was away (events_relay.ts). */
  recentEvents: call<{ since: number }, Event[]>("GET", "/internal/events/recent", {
    path: (r) => `/internal/events/recent?since=${r.since}`,
    body: () => undefined,
  }),
  /** A removal that must run on the leader (membership.ts). */
  removeMember: call<{ name: string; force: boolean }, void>("DELETE", "/1.0/cluster/members/:name", {
    path: (r) => `/1.0/cluster/members/${encodeURIComponent(r.name)}${r.force ? "?force=1" : ""}`,
    body: () => undefined,
  }),
  /** A leftover Raft member's removal, run by the leader (raft_node.ts). */
  removeRaftNode: call<{ address: string }, void>("DELETE", "/internal/cluster/raft-node/:address", {
    path: (r) => `/internal/cluster/raft-node/${encodeURIComponent(r.address)}`,
    body: () => undefined,
  }),
  /** What one member knows of the cluster, for `shoal cluster doctor` (doctor.ts). */
  memberState: call<Record<string, never>, MemberState>("GET", "/internal/cluster/state", {
    body: () => undefined,
  }),
  /** Whether a member has an operation (operations_mesh.ts). */
  operation: call<{ id: string }, unknown>("GET", "/1.0/operations/:id", {
    path: (r) => `/1.0/operations/${encodeURIComponent(r.id)}`,
    body: () => undefined,
  }),
  /** A member's own part of a cluster-wide pool create or delete (routes/storage.ts). */
  poolPart: call<MemberPart, { config: Record<string, string> }>("PUT", "/internal/storage-pools/:name", {
    path: (r) => `/internal/storage-pools/${encodeURIComponent(r.name)}`,
  }),
  /** A member's own part of a cluster-wide network create, update or delete (routes/networks.ts). */
  networkPart: call<MemberPart, { config: Record<string, string> }>("PUT", "/internal/networks/:name", {
    path: (r) => `/internal/networks/${encodeURIComponent(r.name)}`,
  }),
  /** A member's own metrics, for GET /1.0/metrics on another member (metrics.ts). */
  metrics: call<Empty, Family[]>("GET", "/internal/metrics", { body: () => undefined }),
  /** A joiner's server certificate, vouched for by a token or the trust password (join.ts). */
  trustServer: call<CertificatesPost, void>("POST", "/1.0/certificates"),
  /** The member holding an instance offers its volume to a copy's target (instance_copies.ts). */
  migrationOffer: call<
    { project: string; name: string; instanceOnly: boolean },
    { id: string; secret: string }
  >(
    "POST",
    "/internal/migrations/offer",
  ),
  /** A move's target takes the instance from the offer (instance_moves.ts). */
  migrationArrive: call<ArrivalCall, void>("POST", "/internal/migrations/arrive"),
} as const;

/**
 * A call carried on the call stream (wss://MEMBER/internal/calls, member_streams.ts) rather than
 * as an HTTP request: the transport delivers it at most once (Deno's HTTP clients send a POST
 * again on a new connection when a kept-alive one breaks: lib/transport/calls_test.ts), and a
 * call whose stream breaks fails with CallLost, saying whether it may have been delivered. Use it
 * for calls that change something; `Req` and `Rep` type the request and the reply.
 */
export interface StreamCall<Req, Rep> {
  readonly name: string;
  /** Never set: carry the request's and the reply's types. */
  readonly request?: Req;
  readonly reply?: Rep;
}

function streamCall<Req, Rep>(name: string): StreamCall<Req, Rep> {
  return { name };
}

/** The path of the call stream on every member. */
export const CALL_STREAM_PATH = "/internal/calls";

/** The path of the websocket tunnel on every member (ws_tunnel.ts). */
export const TUNNEL_PATH = "/internal/tunnel";

/** Every call on the call stream, in one place; members answer them in member_streams.ts. */
export const STREAM_CALLS = {
  /** A follower's transactions, each in its client session, run by the leader (forwarding.ts). */
  transactions: streamCall<{ transactions: ForwardedTx[] }, { results: ForwardedResult[] }>("transactions"),
  /** Opens a follower's client session on the leader, through the log (forwarding.ts). */
  openSession: streamCall<{ id: string }, Empty>("open-session"),
  /** A spare's read: SELECTs the leader answers in one read of its own, and the index it read at (remote_reads.ts). */
  read: streamCall<{ queries: RemoteQuery[]; stale: boolean }, { rows: Row[][]; applied?: number }>("read"),
} as const;

/** Makes one member call on a client and returns the reply's metadata. */
export async function callMember<Req, Rep>(
  client: Client,
  c: MemberCall<Req, Rep>,
  req: Req,
  signal?: AbortSignal,
): Promise<Rep> {
  return (await client.request<Rep>(c.method, c.path(req), {
    body: c.body(req),
    signal,
    idempotent: c.idempotent,
  }))
    .metadata;
}
