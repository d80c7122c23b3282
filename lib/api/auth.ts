import type { MiddlewareHandler } from "hono";
import { certificateCaller } from "../db/mod.ts";
import { StatusError } from "../util/mod.ts";
import type { ApiEnv, Identity, Peer, ServerContext } from "./context.ts";

const UNIX: Identity = {
  kind: "unix",
  trusted: true,
  protocol: "unix",
  fingerprint: "",
  address: "@",
  certificate: null,
  projects: [],
  member: null,
  joiner: null,
};

/**
 * A spare keeps no copy of the database, so the trust store authenticate() reads is the leader's
 * answers, kept and renewed each heartbeat (as LXD's spares cache their trust store): the first
 * request of a certificate waits here for the leader's answer about it.
 */
export async function primeTrust(ctx: ServerContext, peer: Peer): Promise<void> {
  const fp = peer.transport === "unix" ? "" : peer.fingerprint ?? "";
  if (fp === "") return;
  await ctx.db.warm((tx) => certificateCaller(tx, fp)).catch(() => {/* authenticate() decides */});
}

/**
 * Works out who a peer is: the unix socket is root's; a TLS peer is what its own certificate
 * is in the trust store, read from local state (replicated like everything else: a check per
 * request must not wait for the leader, and LXD caches its trust store the same way). A server
 * certificate makes a member only while a member of that name exists (certificateCaller): the
 * cluster certificate, which every member holds a copy of, opens nothing by itself.
 */
export function authenticate(ctx: ServerContext, peer: Peer): Identity {
  if (peer.transport === "unix") return UNIX;
  const fp = peer.fingerprint ?? "";
  const base = {
    fingerprint: fp,
    address: peer.address,
    certificate: peer.certificate,
    projects: [] as string[],
    member: null,
    joiner: null,
  };
  let c = null;
  if (fp !== "") {
    try {
      c = ctx.db.readStale((tx) => certificateCaller(tx, fp));
    } catch { /* no schema yet (a member about to join): nobody is known */ }
  }
  const joining = c?.member ? null : ctx.joiningMember?.(fp) ?? null;
  if (joining !== null) {
    return { ...base, kind: "member", trusted: true, protocol: "cluster", member: joining };
  }
  if (c?.type === "server") {
    if (c.member !== null && ctx.clustered()) {
      return { ...base, kind: "member", trusted: true, protocol: "cluster", member: c.member };
    }
    return { ...base, kind: "untrusted", trusted: false, protocol: "tls", joiner: c.name };
  }
  if (c?.type === "client") {
    if (c.restricted) {
      return { ...base, kind: "restricted", trusted: true, protocol: "tls", projects: c.projects };
    }
    return { ...base, kind: "client", trusted: true, protocol: "tls" };
  }
  // As LXD: a metrics certificate opens /1.0/metrics and nothing else (untrusted elsewhere).
  if (c?.type === "metrics") return { ...base, kind: "metrics", trusted: false, protocol: "tls" };
  return { ...base, kind: "untrusted", trusted: false, protocol: "tls" };
}

/**
 * authenticateFingerprint() for a member's stream re-checking its peer: on a spare, which holds
 * no trust store of its own, the leader's answer is waited for; undefined while none can be had
 * (the spare just dropped its copy, no leader answers yet): the stream keeps its last answer,
 * or a spare would close the leader's Raft stream and hear nothing more from it.
 */
export async function recheckMember(ctx: ServerContext, fp: string): Promise<string | null | undefined> {
  try {
    await ctx.db.warm((tx) => certificateCaller(tx, fp));
  } catch (e) {
    if (e instanceof StatusError && e.status === 503) return undefined;
  }
  return authenticateFingerprint(ctx, fp);
}

/** The current member a certificate belongs to, or null (a Raft stream re-checks with this). */
export function authenticateFingerprint(ctx: ServerContext, fp: string): string | null {
  const id = authenticate(ctx, { transport: "tls", address: "", fingerprint: fp, certificate: null });
  return id.kind === "member" ? id.member : null;
}

/**
 * The header a member puts on a request it forwards for a client: "unix" for its unix socket,
 * else "tls FINGERPRINT ADDRESS". Only a current member's word is taken; from anyone else the
 * header is ignored.
 */
export const FORWARDED_CALLER = "X-Shoal-Caller";

/** The original caller of a request a member forwarded, decided here as for the client itself. */
export function forwardedCaller(ctx: ServerContext, member: Identity, header: string): Identity {
  if (header === "unix") return UNIX;
  const m = /^tls ([0-9a-f]{64}) (\S+)$/.exec(header);
  if (!m) return { ...member, kind: "untrusted", trusted: false, protocol: "tls", member: null };
  return authenticate(ctx, { transport: "tls", fingerprint: m[1]!, address: m[2]!, certificate: null });
}

/**
 * The X-Shoal-Caller value with which this member forwards a request from id: null for another
 * member (it speaks for itself, and a member may call a member anyway).
 */
export function callerHeader(id: Identity): string | null {
  if (id.kind === "unix") return "unix";
  if (id.kind === "member") return null;
  return `tls ${id.fingerprint || "-"} ${id.address || "-"}`;
}

/** Sets c.var.identity for every request, and c.var.forwardedBy when a member forwarded it. */
export function identify(ctx: ServerContext): MiddlewareHandler<ApiEnv> {
  return async function identifyCaller(c, next) {
    const peer = c.env?.peer ?? { transport: "unix" as const };
    await primeTrust(ctx, peer);
    let id = authenticate(ctx, peer);
    const forwarded = c.req.header(FORWARDED_CALLER);
    if (forwarded !== undefined && id.kind === "member") {
      // Forwarded once, never again: the member that sent it found this member the owner.
      c.set("forwardedBy", id.member ?? "");
      id = forwardedCaller(ctx, id, forwarded);
    }
    c.set("identity", id);
    // As lxd --debug: one record per request, with who asked (but not the members' own
    // heartbeats, as LXD does not log dqlite's traffic; Raft's own is a websocket stream).
    if (c.req.path !== "/internal/heartbeat") {
      ctx.log.debug("Handling API request", {
        ip: id.address,
        method: c.req.method,
        protocol: id.protocol,
        url: c.req.path,
        trusted: id.trusted,
        caller: id.kind,
      });
    }
    await next();
  };
}
