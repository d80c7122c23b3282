import { Hono } from "hono";
import { type Cluster, MEMBER_CALLS, memberConfigKeys } from "../../cluster/mod.ts";
import { fetchServerCertificate } from "../../client/mod.ts";
import { fingerprint, isPemKey, parseCertificate } from "../../tls/mod.ts";
import {
  badRequest,
  errorMessage,
  etag,
  forbidden,
  preconditionFailed,
  splitHostPort,
} from "../../util/mod.ts";
import { decodeToken } from "../../wire/tokens.ts";
import type { ClusterInfo, ClusterPut, Heartbeat, JoinRequest, JoinToken } from "../../wire/mod.ts";
import { readJson } from "../body.ts";
import type { ApiEnv, Ctx, ServerContext } from "../context.ts";
import { async, emptySync, sync } from "../response.ts";

function clusterOf(ctx: ServerContext): Cluster {
  if (!ctx.cluster) throw badRequest("Clustering is not available on this member");
  return ctx.cluster;
}

function clusterInfo(ctx: ServerContext): ClusterInfo {
  const cl = clusterOf(ctx);
  const enabled = cl.self.clustered();
  return {
    server_name: enabled ? cl.self.name() : "",
    enabled,
    // What a joiner must answer for this cluster's pools (LXD lists it for joiners to read).
    member_config: enabled ? ctx.db.readStale(memberConfigKeys) : [],
  };
}

/**
 * Finds a member named in a token that answers with the certificate the token pins (LXD's
 * `lxd init` does this before PUT /1.0/cluster).
 */
async function locateByToken(token: JoinToken): Promise<{ address: string; cert: string }> {
  let answered = false;
  for (const address of token.addresses) {
    const { host, port } = splitHostPort(address);
    let cert: string;
    try {
      cert = await fetchServerCertificate(host, port, 5_000);
    } catch {
      continue;
    }
    answered = true;
    if (await fingerprint(cert) === token.fingerprint) return { address, cert };
    throw badRequest(`Certificate fingerprint mismatch between join token and cluster member "${address}"`);
  }
  throw badRequest(
    answered
      ? "Cannot connect to any of the cluster members specified in join token"
      : "Cannot connect to any of the cluster members specified in join token",
  );
}

async function putCluster(ctx: ServerContext, c: Ctx): Promise<Response> {
  const cl = clusterOf(ctx);
  const req = await readJson<ClusterPut>(c);
  const ifMatch = c.req.header("If-Match");
  if (ifMatch && ifMatch.replace(/"/g, "") !== etag(clusterInfo(ctx))) throw preconditionFailed();
  if (req.enabled === false) {
    if ((req.server_name ?? "") !== "") {
      throw badRequest("ServerName must be empty when disabling clustering");
    }
    throw badRequest("Disabling clustering is done by removing this member: shoal cluster remove NAME");
  }
  if (!req.server_name && !req.cluster_token) {
    throw badRequest("ServerName is required when enabling clustering");
  }
  if (cl.self.clustered()) throw badRequest("This server is already clustered");

  if (!req.cluster_address && !req.cluster_token) {
    const name = req.server_name!;
    const op = ctx.operations.create({
      class: "task",
      description: "Creating bootstrap node",
      resources: { cluster: [] },
      run: async () => {
        await cl.membership.bootstrap(name);
      },
    });
    return async(c, op.toJSON());
  }

  let token: JoinToken | null = null;
  if (req.cluster_token) {
    try {
      const d = decodeToken(req.cluster_token);
      if (d.kind !== "join") throw new Error("not a cluster join token");
      token = d.token;
    } catch (e) {
      throw badRequest(`Invalid cluster join token: ${errorMessage(e)}`);
    }
    // As LXD: the token's name wins over the one asked for.
    req.server_name = token.server_name;
    if (!req.cluster_address || !req.cluster_certificate) {
      const found = await locateByToken(token);
      req.cluster_address = found.address;
      req.cluster_certificate = found.cert;
    }
  }
  if (!req.server_address) throw badRequest("No server address provided for this member");
  if (!req.cluster_certificate) throw badRequest("No target cluster member certificate provided");
  const op = ctx.operations.create({
    class: "task",
    description: "Joining cluster",
    resources: { cluster: [] },
    run: async () => {
      await cl.joiner.join(req, token);
    },
  });
  return async(c, op.toJSON());
}

/**
 * A joiner's acceptance: a member forwarding it to the leader is trusted as a member; a joiner
 * itself must bring the secret it was trusted with here, from the certificate trusted with it,
 * under the name it was trusted as (single use). Anything else gets LXD's 403.
 */
function checkJoiner(ctx: ServerContext, c: Ctx, req: JoinRequest): void {
  const id = c.var.identity;
  if (id.kind === "member" || id.kind === "unix") return;
  const ok = id.joiner !== null && id.joiner === req.name && typeof req.secret === "string" &&
    clusterOf(ctx).tokens.consumeTrusted(req.name, id.fingerprint, req.secret);
  if (!ok) {
    ctx.log.warn("Refused a join without its secret", { ip: id.address, name: String(req.name) });
    throw forbidden("No matching cluster join operation found");
  }
}

/** /1.0/cluster and the member-to-member /internal routes. */
export function clusterRoutes(ctx: ServerContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();

  app.get("/1.0/cluster", (c) => {
    const info = clusterInfo(ctx);
    return sync(c, info, { etag: etag(info) });
  });
  app.put("/1.0/cluster", (c) => putCluster(ctx, c));

  app.get("/1.0/cluster/members", async (c) => {
    const members = await clusterOf(ctx).members.list();
    if (c.req.query("recursion") && c.req.query("recursion") !== "0") return sync(c, members);
    return sync(c, members.map((m) => `/1.0/cluster/members/${encodeURIComponent(m.server_name)}`));
  });
  app.post("/1.0/cluster/members", async (c) => {
    const req = await readJson<{ server_name?: string }>(c);
    const op = await clusterOf(ctx).tokens.issue(req.server_name ?? "");
    return async(c, op as never);
  });
  app.get("/1.0/cluster/members/:name", async (c) => {
    const m = await clusterOf(ctx).members.get(c.req.param("name"));
    const { server_name: _n, url: _u, database: _d, status: _s, message: _m, architecture: _a, ...writable } =
      m;
    return sync(c, m, { etag: etag(writable) });
  });
  app.delete("/1.0/cluster/members/:name", async (c) => {
    const force = ["1", "true"].includes(c.req.query("force") ?? "");
    await clusterOf(ctx).membership.remove(c.req.param("name"), force);
    return emptySync(c);
  });

  app.put("/1.0/cluster/certificate", async (c) => {
    const req = await readJson<{ cluster_certificate?: string; cluster_certificate_key?: string }>(c);
    const cert = req.cluster_certificate ?? "";
    const key = req.cluster_certificate_key ?? "";
    try {
      await parseCertificate(cert);
    } catch {
      throw badRequest("Certificate must be PEM-encoded X.509 certificate");
    }
    if (!isPemKey(key)) throw badRequest("Private key must be PEM-encoded (PKCS#1/PKCS#8) key");
    await clusterOf(ctx).certificate.update(cert, key);
    return emptySync(c);
  });
  app.put(MEMBER_CALLS.certificate.route, async (c) => {
    const req = await readJson<{ cert?: string; key?: string }>(c);
    if (!req.cert || !req.key || !isPemKey(req.key)) throw badRequest("No certificate and key to install");
    // New connections get the new certificate; this answer still leaves on the old one.
    await clusterOf(ctx).certificate.install({ cert: req.cert, key: req.key });
    return emptySync(c);
  });

  // The Raft core's view, for `shoald cluster list-database` and for debugging.
  app.get("/internal/raft/status", (c) => {
    const g = clusterOf(ctx).gateway;
    return sync(c, { status: g.status(), conf: g.conf(), nodes: g.raftNodes() });
  });

  // Member to member (forwarded transactions travel on the call stream: member_streams.ts).
  app.put(MEMBER_CALLS.heartbeat.route, async (c) => {
    const hb = await readJson<Heartbeat>(c);
    if (!Array.isArray(hb.silent)) throw badRequest("Malformed heartbeat: no list of silent members");
    if (hb.problems !== undefined && !Array.isArray(hb.problems)) {
      throw badRequest("Malformed heartbeat: problems is not a list");
    }
    return sync(c, clusterOf(ctx).heartbeats.receive(hb));
  });
  app.post(MEMBER_CALLS.accept.route, async (c) => {
    const req = await readJson<JoinRequest>(c);
    checkJoiner(ctx, c, req);
    return sync(c, await clusterOf(ctx).membership.accept(req));
  });
  app.post(MEMBER_CALLS.redeemToken.route, async (c) => {
    await clusterOf(ctx).tokens.redeem(await readJson<JoinToken>(c), false);
    return emptySync(c);
  });
  app.post(MEMBER_CALLS.handover.route, async (c) => {
    const req = await readJson<{ id?: number }>(c);
    if (typeof req.id !== "number") throw badRequest("No member id to hand over");
    await clusterOf(ctx).handOver.accept(req.id);
    return emptySync(c);
  });
  app.post(MEMBER_CALLS.left.route, (c) => {
    // Answer the leader first: leaving restarts this member's database and listeners.
    setTimeout(
      () =>
        void clusterOf(ctx).membership.leave().catch((e) =>
          ctx.log.error("Leaving the cluster failed", { err: errorMessage(e) })
        ),
      0,
    );
    return emptySync(c);
  });
  app.post(MEMBER_CALLS.rebalance.route, (c) => {
    void clusterOf(ctx).rebalancer.run();
    return emptySync(c);
  });
  return app;
}
