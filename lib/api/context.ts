import type { Context } from "hono";
import type { RouterRoute } from "hono/types";
import type { Cluster, InstanceMoves, Placement } from "../cluster/mod.ts";
import type { GlobalDB, LocalDB } from "../db/mod.ts";
import type { EventHub } from "../events/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { Operations, OpSocket } from "../operations/mod.ts";
import type { JoinToken } from "../wire/mod.ts";

/** Who is on the other end of a connection, as the listener saw it. */
export type Peer =
  | { transport: "unix" }
  | {
    readonly transport: "tls";
    readonly address: string;
    readonly fingerprint: string | null;
    readonly certificate: string | null;
  };

/**
 * Who a caller is, decided per request: the unix socket (root's, full access), a current member
 * (its own certificate, under a member's name), a client with a trusted certificate, a restricted
 * client (its projects only), a metrics certificate (GET /1.0/metrics only, as LXD), or untrusted (which includes a server certificate whose member has
 * not joined yet, or has been removed).
 */
export type CallerKind = "unix" | "member" | "client" | "restricted" | "metrics" | "untrusted";

/** The caller of a request, once authenticated. */
export interface Identity {
  kind: CallerKind;
  trusted: boolean;
  /** unix: the local socket; tls: a client certificate; cluster: a current member. */
  protocol: "unix" | "tls" | "cluster";
  /** Client certificate fingerprint ("" on the unix socket). */
  fingerprint: string;
  /** The remote address ("@" on the unix socket). */
  address: string;
  /** The client's certificate PEM, when it presented one. */
  certificate: string | null;
  /** A restricted client's projects. */
  projects: string[];
  /** The member's name (kind member). */
  member: string | null;
  /** The member name a joiner's server certificate is trusted under, before it is accepted. */
  joiner: string | null;
}

/** Hono environment of shoal's app. */
export type ApiEnv = {
  Bindings: { peer: Peer };
  Variables: {
    identity: Identity;
    /** The member that forwarded this request for its caller (a request is forwarded once). */
    forwardedBy?: string;
    /** The route the request matched, null for none (access.ts handlerRoute(): found once). */
    handlerRoute?: RouterRoute | null;
  };
};

/** The Hono context type of our routes. */
export type Ctx = Context<ApiEnv>;

/** What the member offers the routes; the daemon implements it. */
export interface ServerContext {
  readonly version: string;
  readonly log: Logger;
  readonly db: GlobalDB;
  readonly local: LocalDB;
  readonly events: EventHub;
  readonly operations: Operations;
  /** This member's part in the cluster (bootstrap, join, members, forwarding). */
  readonly cluster?: Cluster;
  /** Moves, copies and renames of instances (lib/cluster/instance_moves.ts). */
  readonly moves?: InstanceMoves;
  /** The member's name: the cluster member name, or the hostname when standalone. */
  serverName(): string;
  /** The value of `location` fields: the member name when clustered, "none" when standalone. */
  location(): string;
  clustered(): boolean;
  /** The certificate served on the API: the cluster certificate once clustered. */
  certificate(): { cert: string; fingerprint: string };
  /** Addresses clients may reach the API on. */
  addresses(): string[];
  /**
   * Applies member-local settings that need action (e.g. listening on a new address) before
   * they are stored; throws a StatusError to refuse them.
   */
  applyLocalConfig(changes: Record<string, string>): Promise<void>;
  /** While this member is joining: a member's name by its certificate, as the leader told it. */
  joiningMember?: (fingerprint: string) => string | null;
  /**
   * Uses up a cluster join token presented by a joining member; throws 403 "No matching cluster
   * join operation found" when none matches. Absent until clustering is set up.
   */
  redeemJoinToken?: (token: JoinToken) => Promise<void>;
  /**
   * Sends a request on to another member and returns its answer unchanged (LXD's forwarding
   * of resource-bound requests: an instance to its location, `?target=`). Absent while
   * standalone: every resource is local then.
   */
  forward?: (member: string, request: Request, caller: Identity) => Promise<Response>;
  /**
   * A GET to another member as this member (it answers with what it holds itself, e.g. its own
   * instances); rejects when the member is offline or does not answer in time.
   */
  askMember?: <T>(member: string, path: string) => Promise<T>;
  /** The member a new instance goes to: the fewest instances (of a group's members), a tie to the lowest ID. */
  placeInstance?: (
    target: { group: string } | { within: string[] } | null,
    name: string,
    project: string,
  ) => Promise<Placement>;
  /**
   * Opens an operation's websocket on the member that has the operation, for the caller;
   * resolves once it is open (404 when no member has it).
   */
  /**
   * Serves a request another member sent on its tunnel (a forwarded write) as one that came from
   * peer over HTTPS: same routes, same trust, counted among the requests in flight.
   */
  serveFromMember?: (req: Request, peer: Peer) => Promise<Response>;
  proxyWebsocket?: (
    operation: string,
    pathAndQuery: string,
    caller: Identity,
  ) => Promise<(socket: OpSocket) => void>;
}
