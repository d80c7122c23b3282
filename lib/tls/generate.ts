/**
 * Certificate generation over WebCrypto (ECDSA P-384, CA:FALSE, SANs, as STACK.md §4 measured),
 * encoded with lib/tls/der.ts: a self-signed X.509 v3 certificate (RFC 5280) and its PKCS#8 key.
 * @module
 */
import {
  bitString,
  booleanTrue,
  ecdsaSignatureToDer,
  explicit,
  implicit,
  ipBytes,
  octetString,
  oid,
  sequence,
  set,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
} from "./der.ts";
import { type CertOptions, type KeyPair, pemEncode } from "./pem.ts";

const OID = {
  ecdsaWithSha384: "1.2.840.10045.4.3.3",
  organization: "2.5.4.10",
  commonName: "2.5.4.3",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  basicConstraints: "2.5.29.19",
  subjectAltName: "2.5.29.17",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
};

const extension = (id: string, critical: boolean, value: Uint8Array) =>
  sequence(oid(id), ...(critical ? [booleanTrue()] : []), octetString(value));

/** Generates a self-signed certificate and key. */
export async function generateKeyPair(o: CertOptions): Promise<KeyPair> {
  const alg = { name: "ECDSA", namedCurve: "P-384" };
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]) as CryptoKeyPair;
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  // Go's TLS client (the real lxc) sets ServerName to the pinned cert's first DNS name, so a
  // DNS SAN must come first for it to verify us.
  const san = [
    ...(o.dns ?? []).map((d) => implicit(2, new TextEncoder().encode(d))),
    ...(o.ips ?? []).map((ip) => implicit(7, ipBytes(ip))),
  ];
  const eku = o.kind === "server" ? [OID.serverAuth, OID.clientAuth] : [OID.clientAuth];
  const name = sequence(
    set(sequence(oid(OID.organization), utf8String("LXD"))),
    set(sequence(oid(OID.commonName), utf8String(o.cn))),
  );
  const now = Date.now();
  const signature = sequence(oid(OID.ecdsaWithSha384));
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    // A leading 01 keeps the serial positive and its first byte non-zero.
    unsignedInteger(Uint8Array.of(1, ...crypto.getRandomValues(new Uint8Array(16)))),
    signature,
    name,
    sequence(time(new Date(now - 60_000)), time(new Date(now + (o.days ?? 3650) * 86_400_000))),
    name,
    spki,
    explicit(
      3,
      sequence(
        // digitalSignature (bit 0) and keyEncipherment (bit 2): 1010 0000, five bits unused.
        extension(OID.keyUsage, true, bitString(Uint8Array.of(0xa0), 5)),
        extension(OID.extKeyUsage, false, sequence(...eku.map(oid))),
        // CA:FALSE (the default, so an empty SEQUENCE): rustls (Deno's fetch and WebSocket)
        // refuses a CA certificate used as an end entity.
        extension(OID.basicConstraints, true, sequence()),
        ...(san.length ? [extension(OID.subjectAltName, false, sequence(...san))] : []),
      ),
    ),
  );
  const raw = new Uint8Array(
    await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-384" },
      keys.privateKey,
      tbs as Uint8Array<ArrayBuffer>,
    ),
  );
  const cert = sequence(tbs, signature, bitString(ecdsaSignatureToDer(raw)));
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { cert: pemEncode("CERTIFICATE", cert.buffer as ArrayBuffer), key: pemEncode("PRIVATE KEY", pkcs8) };
}
