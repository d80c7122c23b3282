import { Hono } from "hono";
import {
  addCertificate,
  type CertRecord,
  type CertType,
  deleteCertificate,
  getCertificate,
  globalValue,
  listCertificates,
  readGlobalConfig,
  trustJoiner,
  updateCertificate,
} from "../../db/mod.ts";
import { derToPem, parseCertificate } from "../../tls/mod.ts";
import {
  badRequest,
  conflict,
  etag,
  forbidden,
  listenAddresses,
  parseExpiry,
  preconditionFailed,
} from "../../util/mod.ts";
import type { Certificate, CertificatesPost } from "../../wire/mod.ts";
import type { ApiEnv, Ctx, ServerContext } from "../context.ts";
import { checkMemberName } from "../../cluster/mod.ts";
import { readJson } from "../body.ts";
import { verifyPassword } from "../password.ts";
import { throttledCheck } from "../throttle.ts";
import { async, emptySync, sync } from "../response.ts";
import { decodeToken, randomSecret, secretsEqual } from "../../wire/tokens.ts";

const TYPES: readonly CertType[] = ["client", "server", "metrics"];

function toWire(r: CertRecord): Certificate {
  return {
    name: r.name,
    type: r.type,
    restricted: r.restricted,
    projects: r.projects,
    certificate: r.certificate,
    fingerprint: r.fingerprint,
  };
}

/** Reads `certificate` from a request: base64 DER as lxc sends it, or PEM. */
function certificateFromBody(text: string): string {
  const t = text.trim();
  if (t.includes("-----BEGIN CERTIFICATE-----")) return t + "\n";
  try {
    const der = Uint8Array.from(atob(t), (c) => c.charCodeAt(0));
    return derToPem(der);
  } catch {
    throw badRequest("Invalid certificate material: not base64-encoded DER nor PEM");
  }
}

/**
 * Finds the running certificate add token with this secret and uses it up (single use).
 * Returns the request the token was issued for, or null when no token matches.
 */
function redeemCertificateToken(ctx: ServerContext, secret: string): CertificatesPost | null {
  for (const op of ctx.operations.list("default")) {
    if (op.spec.class !== "token" || op.status !== "Running") continue;
    const m = op.metadata ?? {};
    if (m.kind !== "certificate" || typeof m.secret !== "string" || !secretsEqual(m.secret, secret)) continue;
    op.cancel();
    const expiresAt = typeof m.expiresAt === "string" ? Date.parse(m.expiresAt) : NaN;
    if (!Number.isNaN(expiresAt) && Date.now() > expiresAt) throw forbidden("Token has expired");
    return m.request as CertificatesPost;
  }
  return null;
}

/** How long a certificate add token lives when core.remote_token_expiry is unset. */
export const CERTIFICATE_TOKEN_EXPIRY = "1d";

async function createToken(ctx: ServerContext, c: Ctx, req: CertificatesPost): Promise<Response> {
  if ((req.type ?? "client") !== "client") {
    throw badRequest("Tokens can only be issued for client certificates");
  }
  const https = ctx.local.get("core.https_address");
  if (https === "") throw badRequest("Can't issue token when server isn't listening on network");
  const config = await ctx.db.read(readGlobalConfig);
  // LXD's tokens live until used when core.remote_token_expiry is unset; a token is a key to
  // the server handed around in chats and tickets, so shoal's expire after a day unless the
  // key says otherwise.
  const expiry = globalValue(config, "core.remote_token_expiry") || CERTIFICATE_TOKEN_EXPIRY;
  const meta: Record<string, unknown> = {
    secret: randomSecret(),
    fingerprint: ctx.certificate().fingerprint,
    addresses: listenAddresses(https),
    request: {
      name: req.name ?? "",
      type: "client",
      restricted: req.restricted ?? false,
      projects: req.projects ?? [],
      certificate: "",
      password: "",
      token: true,
    },
  };
  meta.expiresAt = new Date(Date.now() + parseExpiry(expiry)).toISOString();
  // `kind` is ours: it tells certificate tokens from join tokens without parsing descriptions.
  const op = ctx.operations.create({
    class: "token",
    description: "Certificate add token",
    metadata: { ...meta, kind: "certificate" },
  });
  return async(c, op.toJSON());
}

/** LXD's rule for a certificate's name. */
function checkCertName(name: string | undefined): void {
  if (name !== undefined && (name.startsWith("-") || name.includes("/"))) {
    throw badRequest(
      `Invalid certificate name "${name}", name must not start with a hyphen or contain forward slashes`,
    );
  }
}

/** Reads and checks a certificate's material; 400 with the parser's reason. */
async function certificateInfo(pem: string) {
  let info;
  try {
    info = await parseCertificate(pem);
  } catch (e) {
    throw badRequest(`Invalid certificate material: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (info.notAfter.getTime() < Date.now()) throw badRequest("Certificate has expired");
  return info;
}

/**
 * A joiner's own server certificate, trusted with a join token or the trust password: the only
 * way a certificate of type server is made. It must be the certificate the joiner connects
 * with, and it becomes a member's once the member it names is accepted (with the same secret).
 */
async function trustJoinerCert(
  ctx: ServerContext,
  c: Ctx,
  req: CertificatesPost,
  name: string,
  secret: string,
): Promise<Response> {
  const id = c.var.identity;
  const cluster = ctx.cluster;
  if (!cluster || !id.certificate) throw forbidden("Only a joining member can add a server certificate");
  const own = await certificateInfo(id.certificate);
  if (req.certificate) {
    const given = await certificateInfo(certificateFromBody(req.certificate));
    if (given.fingerprint !== own.fingerprint) {
      throw forbidden("A joining member can only add its own certificate: the one it connects with");
    }
  }
  checkMemberName(name);
  await ctx.db.run(trustJoiner, { fingerprint: own.fingerprint, name, certificate: derToPem(own.der) });
  cluster.tokens.trusted(name, own.fingerprint, secret);
  ctx.events.lifecycle("certificate-created", `/1.0/certificates/${own.fingerprint}`);
  c.header("Location", `/1.0/certificates/${own.fingerprint}`);
  return sync(c, {}, { status: 201 });
}

async function addCert(ctx: ServerContext, c: Ctx): Promise<Response> {
  let req = await readJson<CertificatesPost>(c);
  const id = c.var.identity;
  checkWireTypes(req);
  if (req.token && req.certificate) throw badRequest("Can't use certificate if token is requested");
  if (req.type !== undefined && req.type !== "" && !TYPES.includes(req.type as CertType)) {
    throw badRequest(`Unknown certificate type "${req.type}"`);
  }
  checkCertName(req.name);
  if ((req.projects ?? []).length > 0 && !req.restricted) {
    throw badRequest(
      "Projects can only be specified for restricted certificates. Set restricted=true or remove projects",
    );
  }
  // A restricted client may not add certificates nor issue tokens: only see to its own.
  if (id.kind === "restricted") throw forbidden();
  if (id.trusted && !req.certificate && !req.token) throw badRequest("Client is already trusted");
  if (id.trusted && req.type === "server") {
    throw forbidden(
      "A server certificate is only added by a joining member itself, with a join token or the trust password",
    );
  }
  if (!id.trusted) {
    if (req.token || !req.password) throw forbidden();
    // A joiner trusted here already with this very secret (lxd init trusts it before the daemon
    // joins): the token is used up by then, and its acceptance checks the secret again.
    if (id.joiner !== null && ctx.cluster?.tokens.hasTrusted(id.joiner, id.fingerprint, req.password)) {
      throw conflict("Certificate already in trust store");
    }
    const secret = req.password;
    let decoded: ReturnType<typeof decodeToken> | null = null;
    try {
      decoded = decodeToken(secret);
    } catch { /* not a token: a trust password */ }
    if (decoded?.kind === "certificate") {
      const issued = redeemCertificateToken(ctx, decoded.token.secret);
      if (!issued) throw forbidden("No matching certificate add operation found");
      req = {
        name: issued.name,
        type: "client",
        restricted: issued.restricted,
        projects: issued.projects,
      };
    } else if (decoded?.kind === "join") {
      const redeem = ctx.redeemJoinToken;
      if (!redeem) throw forbidden("No matching cluster join operation found");
      await redeem(decoded.token);
      // As LXD: the token names the member; nothing in the request overrides it.
      return await trustJoinerCert(ctx, c, req, decoded.token.server_name, secret);
    } else {
      const hash = (await ctx.db.read(readGlobalConfig))["core.trust_password"] ?? "";
      const ok = await throttledCheck(
        id.address,
        async () => hash !== "" && await verifyPassword(secret, hash),
      );
      if (!ok) {
        ctx.log.warn("Bad trust password", { ip: id.address });
        throw forbidden();
      }
      if (req.type === "server") return await trustJoinerCert(ctx, c, req, req.name ?? "", secret);
    }
  }
  if (req.token) return createToken(ctx, c, req);

  let pem: string;
  if (req.certificate) pem = certificateFromBody(req.certificate);
  else if (id.certificate) pem = id.certificate;
  else if (id.protocol === "unix") throw badRequest("Can't use TLS data on non-TLS link");
  else throw badRequest("No client certificate provided");
  const info = await certificateInfo(pem);
  const name = req.name || info.subjectCN || id.address;
  await ctx.db.run(addCertificate, {
    fingerprint: info.fingerprint,
    type: req.type === "metrics" ? "metrics" : "client",
    name,
    certificate: derToPem(info.der),
    restricted: req.restricted ?? false,
    projects: req.restricted ? (req.projects ?? []) : [],
  });
  ctx.events.lifecycle("certificate-created", `/1.0/certificates/${info.fingerprint}`);
  c.header("Location", `/1.0/certificates/${info.fingerprint}`);
  return sync(c, {}, { status: 201 });
}

/** The JSON types of a certificate request: a wrong one is a 400, never a crash further on. */
function checkWireTypes(req: CertificatesPost): void {
  const str = (k: keyof CertificatesPost) => {
    const v = req[k];
    if (v !== undefined && v !== null && typeof v !== "string") {
      throw badRequest(`Invalid "${k}": expected a string`);
    }
  };
  for (const k of ["name", "type", "certificate", "password"] as const) str(k);
  if (req.restricted !== undefined && typeof req.restricted !== "boolean") {
    throw badRequest(`Invalid "restricted": expected a boolean`);
  }
  if (req.token !== undefined && typeof req.token !== "boolean") {
    throw badRequest(`Invalid "token": expected a boolean`);
  }
  if (
    req.projects !== undefined && req.projects !== null &&
    (!Array.isArray(req.projects) || !req.projects.every((p) => typeof p === "string"))
  ) throw badRequest(`Invalid "projects": expected a list of strings`);
}

/** POST /1.0/certificates: open to untrusted callers, who must bring a password or token. */
export function publicCertificateRoutes(ctx: ServerContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.post("/1.0/certificates", (c) => addCert(ctx, c));
  return app;
}

async function updateCert(ctx: ServerContext, c: Ctx, patch: boolean): Promise<Response> {
  const id = c.var.identity;
  const current = await ctx.db.read((tx) => getCertificate(tx, c.req.param("fp")!));
  if (id.kind === "restricted" && current.fingerprint !== id.fingerprint) throw forbidden();
  const wire = toWire(current);
  const writable = {
    name: wire.name,
    type: wire.type,
    restricted: wire.restricted,
    projects: wire.projects,
    certificate: wire.certificate,
  };
  const ifMatch = c.req.header("If-Match")?.replace(/"/g, "");
  if (ifMatch && ifMatch !== etag(writable)) throw preconditionFailed();
  const body = await readJson<Partial<Certificate>>(c);
  checkWireTypes(body as CertificatesPost);
  const next = patch ? { ...writable, ...body } : {
    ...writable,
    name: body.name ?? "",
    type: body.type ?? writable.type,
    restricted: body.restricted ?? false,
    projects: body.projects ?? [],
  };
  if (!TYPES.includes(next.type as CertType)) throw badRequest(`Unknown certificate type "${next.type}"`);
  // As LXD: a certificate keeps its type; a client never becomes a member by editing one.
  if (next.type !== current.type) throw forbidden("The certificate type cannot be changed");
  if (current.type === "server") {
    throw forbidden("A server certificate is a cluster member's: rename or remove the member instead");
  }
  checkCertName(next.name);
  const projects = next.projects ?? [];
  if (projects.length > 0 && !next.restricted) {
    throw badRequest("Projects can only be specified for restricted certificates");
  }
  if (
    id.kind === "restricted" &&
    (next.name !== current.name || next.restricted !== current.restricted ||
      projects.join(",") !== current.projects.join(","))
  ) throw forbidden("Only the certificate can be changed");
  await ctx.db.run(updateCertificate, {
    fingerprint: current.fingerprint,
    name: next.name ?? current.name,
    restricted: next.restricted ?? false,
    projects,
  });
  ctx.events.lifecycle("certificate-updated", `/1.0/certificates/${current.fingerprint}`);
  return emptySync(c);
}

/**
 * The trusted certificate routes. A restricted client sees and edits only its own certificate
 * (LXD's unprivileged update), and may delete only that one.
 */
export function certificateRoutes(ctx: ServerContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get("/1.0/certificates", async (c) => {
    const id = c.var.identity;
    const all = await ctx.db.read(listCertificates);
    const certs = id.kind === "restricted" ? all.filter((r) => r.fingerprint === id.fingerprint) : all;
    if (c.req.query("recursion") && c.req.query("recursion") !== "0") return sync(c, certs.map(toWire));
    return sync(c, certs.map((r) => `/1.0/certificates/${r.fingerprint}`));
  });
  app.get("/1.0/certificates/:fp", async (c) => {
    const id = c.var.identity;
    const r = toWire(await ctx.db.read((tx) => getCertificate(tx, c.req.param("fp"))));
    if (id.kind === "restricted" && r.fingerprint !== id.fingerprint) throw forbidden();
    const tag = etag({
      name: r.name,
      type: r.type,
      restricted: r.restricted,
      projects: r.projects,
      certificate: r.certificate,
    });
    return sync(c, r, { etag: tag });
  });
  app.put("/1.0/certificates/:fp", (c) => updateCert(ctx, c, false));
  app.patch("/1.0/certificates/:fp", (c) => updateCert(ctx, c, true));
  app.delete("/1.0/certificates/:fp", async (c) => {
    const id = c.var.identity;
    const r = await ctx.db.read((tx) => getCertificate(tx, c.req.param("fp")));
    if (r.type === "server") {
      throw badRequest("Cannot delete a server certificate. Remove the cluster member instead");
    }
    if (id.kind === "restricted" && r.fingerprint !== id.fingerprint) {
      throw forbidden("Certificate cannot be deleted");
    }
    await ctx.db.run(deleteCertificate, { fingerprint: r.fingerprint });
    ctx.events.lifecycle("certificate-deleted", `/1.0/certificates/${r.fingerprint}`);
    return emptySync(c);
  });
  return app;
}
