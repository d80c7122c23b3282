import { NODE_STATE } from "../db/mod.ts";
import { type RouteRow, routeRows } from "./route_rows.ts";
import type { PlacementTarget } from "./placement.ts";
import { releasePlacement, reservePlacement } from "./reservation.ts";
import { notFound, StatusError } from "../util/mod.ts";
import type { Heartbeats } from "./heartbeat.ts";
import { MemberProxy, type UpstreamSocket } from "./proxy.ts";
import type { Self } from "./self.ts";

/** A member as a request is routed to it. */
export interface RouteTarget {
  id: number;
  name: string;
  address: string;
  online: boolean;
  evacuated: boolean;
  /** This member itself. */
  self: boolean;
}

/**
 * A placement decision, counted against its member until the creation it was for has ended
 * (settle: a local creation's end; settleForwarded: the member's answer, then its operation).
 */
export interface Placement {
  member: string;
  settle(done: Promise<unknown>): void;
  settleForwarded(res: Promise<Response>): void;
}

/** An operation a forwarded request created on its member: the operations mesh remembers where. */
export type OperationSeen = (id: string, address: string) => void;

/**
 * Where a request goes when another member holds what it is about (an instance, a member-local
 * view named by ?target=, a volume): the member's address and liveness from this member's copy
 * of the database and the heartbeats, and the proxy that carries the request there.
 */
export class MemberRouting {
  #self: Self;
  #heartbeats: Heartbeats;
  readonly proxy: MemberProxy;
  /** Told of every operation a forwarded request created (set by the daemon). */
  onOperation: OperationSeen = () => {};

  constructor(self: Self, heartbeats: Heartbeats) {
    this.#self = self;
    this.#heartbeats = heartbeats;
    this.proxy = new MemberProxy(() => self.tls, self.serverCert);
  }

  /**
   * Every member as routing sees it, by id: one query for the four columns it needs (every
   * forwarded request and proxied stream asks; listNodes' roles, config and groups took three
   * more queries per member).
   */
  members(): RouteTarget[] {
    const me = this.#self.address();
    return this.#self.stale(routeRows, [] as RouteRow[]).map((n) => this.#target(n, me));
  }

  #target(n: RouteRow, me: string): RouteTarget {
    const self = n.address === me;
    return {
      id: n.id,
      name: n.name,
      address: n.address,
      online: self || this.#heartbeats.isOnline(n.address),
      evacuated: n.state === NODE_STATE.evacuated,
      self,
    };
  }

  /**
   * A member by name, as LXD resolves a target: 404 `Failed to get cluster member "x": Cluster
   * member not found` for a name no member has.
   */
  resolve(name: string): RouteTarget {
    const t = this.members().find((m) => m.name === name);
    if (!t) throw notFound(`Failed to get cluster member "${name}": Cluster member not found`);
    return t;
  }

  /**
   * Sends a request to the member named, with the caller's identity header (null: this member
   * speaks for itself); refuses at once when the member is offline, naming it.
   */
  async forward(name: string, req: Request, caller: string | null): Promise<Response> {
    const t = this.#reachable(name);
    const res = await this.proxy.forward(t.name, t.address, req, callerHeaders(caller));
    if (res.status === 202) {
      const m = /^\/1\.0\/operations\/([^/?]+)/.exec(res.headers.get("Location") ?? "");
      if (m) this.onOperation(decodeURIComponent(m[1]!), t.address);
    }
    return res;
  }

  /**
   * The member a new instance goes to when the client named none, or a group (LXD's scheduler,
   * placement.ts), chosen and reserved in one replicated transaction (reservation.ts) so that
   * placements through different members at once spread; 404 for a group that does not exist,
   * 503 when no member may take it.
   */
  async place(target: PlacementTarget, name = "", project = "default", exclude?: string): Promise<Placement> {
    // A move's own member is no place for its instance to go.
    const online = this.members().filter((m) => m.online && m.name !== exclude).map((m) => m.name);
    const r = await this.#self.db.run(reservePlacement, { target, online, project, name });
    if (r.kind === "no-group") throw notFound("Cluster group not found");
    if (r.kind === "no-member") {
      throw new StatusError(503, "No suitable cluster member could be found to place the instance on");
    }
    const { member, id } = r;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      // Best effort: a reservation left behind stops counting once it expires.
      void this.#self.db.run(releasePlacement, { id }).catch(() => {});
    };
    return {
      member,
      settle: (done) => void done.then(release, release),
      settleForwarded: (res) => {
        void res.then(async (r) => {
          // The instance's row exists once the owner's creating operation has ended.
          const m = /^\/1\.0\/operations\/([^/?]+)/.exec(r.headers.get("Location") ?? "");
          if (r.status === 202 && m) {
            await this.ask(member, `/1.0/operations/${m[1]}/wait?timeout=600`, 610_000).catch(() => {});
          }
        }).finally(release);
      },
    };
  }

  /** A GET to a member as this member, with its reply's metadata (bounded: lists must not hang). */
  async ask<T>(name: string, path: string, timeoutMs = 10_000): Promise<T> {
    const t = this.#reachable(name);
    return (await this.#self.clients.get(t.address).request<T>("GET", path, {
      signal: AbortSignal.timeout(timeoutMs),
    })).metadata;
  }

  /** Opens a websocket on the member at address (an operation's stream) for the caller. */
  openWebsocket(address: string, path: string, caller: string | null): Promise<UpstreamSocket> {
    const t = this.members().find((m) => m.address === address);
    return this.proxy.openWebsocket(t?.name ?? address, address, path, callerHeaders(caller));
  }

  #reachable(name: string): RouteTarget {
    const t = this.resolve(name);
    if (t.self) throw new StatusError(500, `Member "${name}" is this member: nothing to forward`);
    if (!t.online) {
      throw new StatusError(503, `Cluster member "${name}" is offline: it cannot answer for what it holds`);
    }
    return t;
  }

  close(): void {
    this.proxy.close();
  }
}

/** The header naming the original caller (lib/api/auth.ts reads it on the other side). */
export const CALLER_HEADER = "X-Shoal-Caller";

function callerHeaders(caller: string | null): Record<string, string> {
  return caller === null ? {} : { [CALLER_HEADER]: caller };
}
