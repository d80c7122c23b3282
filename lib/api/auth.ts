import type { MiddlewareHandler } from "hono";
import { certificateType } from "../db/mod.ts";
import { forbidden } from "../util/mod.ts";
import type { ApiEnv, Identity, Peer, ServerContext } from "./context.ts";

/** Works out who a peer is: the unix socket is root's; TLS peers by their certificate. */
export function authenticate(ctx: ServerContext, peer: Peer): Identity {
  if (peer.transport === "unix") {
    return { trusted: true, protocol: "unix", fingerprint: "", address: "@", certificate: null };
  }
  const fp = peer.fingerprint ?? "";
  if (fp !== "" && ctx.isMemberFingerprint(fp)) {
    return {
      trusted: true,
      protocol: "cluster",
      fingerprint: fp,
      address: peer.address,
      certificate: peer.certificate,
    };
  }
  // Trust is read from local state: it is replicated like everything else, and a check per
  // request must not wait for the leader (LXD caches the trust store the same way).
  const type = fp === "" ? null : ctx.db.readStale((tx) => certificateType(tx, fp));
  return {
    trusted: type === "client" || type === "server",
    protocol: type === "server" ? "cluster" : "tls",
    fingerprint: fp,
    address: peer.address,
    certificate: peer.certificate,
  };
}

/** Sets c.var.identity for every request. */
export function identify(ctx: ServerContext): MiddlewareHandler<ApiEnv> {
  return async function identifyCaller(c, next) {
    const id = authenticate(ctx, c.env?.peer ?? { transport: "unix" });
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
      });
    }
    await next();
  };
}

/** Lets only trusted callers through; the routes open to everyone are registered before it. */
export function requireTrusted(): MiddlewareHandler<ApiEnv> {
  return async function requireTrustedCaller(c, next) {
    if (!c.var.identity.trusted) throw forbidden();
    await next();
  };
}
