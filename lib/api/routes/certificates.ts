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
  updateCertificate,
} from "../../db/mod.ts";
import { derToPem, parseCertificate } from "../../tls/mod.ts";
import {
  badRequest,
  etag,
  forbidden,
  listenAddresses,
  parseExpiry,
  preconditionFailed,
} from "../../util/mod.ts";
import type { Certificate, CertificatesPost } from "../../wire/mod.ts";
import type { ApiEnv, Ctx, ServerContext } from "../context.ts";
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

async function createToken(ctx: ServerContext, c: Ctx, req: CertificatesPost): Promise<Response> {
  if ((req.type ?? "client") !== "client") {
    throw badRequest("Tokens can only be issued for client certificates");
  }
  const https = ctx.local.get("core.https_address");
  if (https === "") throw badRequest("Can't issue token when server isn't listening on network");
  const config = await ctx.db.read(readGlobalConfig);
  const expiry = globalValue(config, "core.remote_token_expiry");
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
  if (expiry !== "") meta.expiresAt = new Date(Date.now() + parseExpiry(expiry)).toISOString();
  // `kind` is ours: it tells certificate tokens from join tokens without parsing descriptions.
  const op = ctx.operations.create({
    class: "token",
    description: "Certificate add token",
    metadata: { ...meta, kind: "certificate" },
  });
  return async(c, op.toJSON());
}

async function addCert(ctx: ServerContext, c: Ctx): Promise<Response> {
  let req = await readJson<CertificatesPost>(c);
  const id = c.var.identity;
  if (req.token && req.certificate) throw badRequest("Can't use certificate if token is requested");
  if (req.type !== undefined && req.type !== "" && !TYPES.includes(req.type as CertType)) {
    throw badRequest(`Unknown certificate type "${req.type}"`);
  }
  if (id.trusted && !req.certificate && !req.token) throw badRequest("Client is already trusted");
  if (!id.trusted) {
    if (req.token || !req.password) throw forbidden();
    let decoded: ReturnType<typeof decodeToken> | null = null;
    try {
      decoded = decodeToken(req.password);
    } catch { /* not a token: a trust password */ }
    if (decoded?.kind === "certificate") {
      const issued = redeemCertificateToken(ctx, decoded.token.secret);
      if (!issued) throw forbidden("No matching certificate add operation found");
      req = {
        name: issued.name,
        type: issued.type,
        restricted: issued.restricted,
        projects: issued.projects,
      };
    } else if (decoded?.kind === "join") {
      const redeem = ctx.redeemJoinToken;
      if (!redeem) throw forbidden("No matching cluster join operation found");
      await redeem(decoded.token);
      req = { ...req, type: "server" };
    } else {
      const hash = (await ctx.db.read(readGlobalConfig))["core.trust_password"] ?? "";
      const password = req.password;
      const ok = await throttledCheck(
        id.address,
        async () => hash !== "" && await verifyPassword(password, hash),
      );
      if (!ok) {
        ctx.log.warn("Bad trust password", { ip: id.address });
        throw forbidden();
      }
    }
  }
  if (req.token) return createToken(ctx, c, req);

  let pem: string;
  if (req.certificate) pem = certificateFromBody(req.certificate);
  else if (id.certificate) pem = id.certificate;
  else if (id.protocol === "unix") throw badRequest("Can't use TLS data on non-TLS link");
  else throw badRequest("No client certificate provided");
  let info;
  try {
    info = await parseCertificate(pem);
  } catch (e) {
    throw badRequest(`Invalid certificate material: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (info.notAfter.getTime() < Date.now()) throw badRequest("Certificate has expired");
  const name = req.name || info.subjectCN || id.address;
  await ctx.db.run(addCertificate, {
    fingerprint: info.fingerprint,
    type: req.type && TYPES.includes(req.type as CertType) ? req.type as CertType : "client",
    name,
    certificate: derToPem(info.der),
    restricted: req.restricted ?? false,
  });
  ctx.events.lifecycle("certificate-created", `/1.0/certificates/${info.fingerprint}`);
  c.header("Location", `/1.0/certificates/${info.fingerprint}`);
  return sync(c, {}, { status: 201 });
}

/** POST /1.0/certificates: open to untrusted callers, who must bring a password or token. */
export function publicCertificateRoutes(ctx: ServerContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.post("/1.0/certificates", (c) => addCert(ctx, c));
  return app;
}

async function updateCert(ctx: ServerContext, c: Ctx, patch: boolean): Promise<Response> {
  const current = await ctx.db.read((tx) => getCertificate(tx, c.req.param("fp")!));
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
  const next = patch ? { ...writable, ...body } : {
    ...writable,
    name: body.name ?? "",
    type: body.type ?? "client",
    restricted: body.restricted ?? false,
  };
  if (!TYPES.includes(next.type as CertType)) throw badRequest(`Unknown certificate type "${next.type}"`);
  await ctx.db.run(updateCertificate, {
    fingerprint: current.fingerprint,
    name: next.name ?? current.name,
    type: next.type as CertType,
    restricted: next.restricted ?? false,
  });
  ctx.events.lifecycle("certificate-updated", `/1.0/certificates/${current.fingerprint}`);
  return emptySync(c);
}

/** The trusted certificate routes. */
export function certificateRoutes(ctx: ServerContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get("/1.0/certificates", async (c) => {
    const certs = await ctx.db.read(listCertificates);
    if (c.req.query("recursion") && c.req.query("recursion") !== "0") return sync(c, certs.map(toWire));
    return sync(c, certs.map((r) => `/1.0/certificates/${r.fingerprint}`));
  });
  app.get("/1.0/certificates/:fp", async (c) => {
    const r = toWire(await ctx.db.read((tx) => getCertificate(tx, c.req.param("fp"))));
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
    const r = await ctx.db.read((tx) => getCertificate(tx, c.req.param("fp")));
    if (r.type === "server") {
      throw badRequest("Cannot delete a server certificate. Remove the cluster member instead");
    }
    await ctx.db.run(deleteCertificate, { fingerprint: r.fingerprint });
    ctx.events.lifecycle("certificate-deleted", `/1.0/certificates/${r.fingerprint}`);
    return emptySync(c);
  });
  return app;
}
