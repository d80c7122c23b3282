/**
 * Certificate generation with @peculiar/x509 (ECDSA P-384, CA:FALSE, SANs, as STACK.md §4
 * measured), loaded by lib/tls/mod.ts only when a certificate is made.
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { type CertOptions, hex, type KeyPair, pemEncode } from "./pem.ts";

x509.cryptoProvider.set(crypto);

/** Generates a self-signed certificate and key. */
export async function generateKeyPair(o: CertOptions): Promise<KeyPair> {
  const alg = { name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" };
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]) as CryptoKeyPair;
  // Go's TLS client (the real lxc) sets ServerName to the pinned cert's first DNS name, so a
  // DNS SAN must come first for it to verify us.
  const san = [
    ...(o.dns ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(o.ips ?? []).map((value) => ({ type: "ip" as const, value })),
  ];
  const eku = o.kind === "server"
    ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]
    : [x509.ExtendedKeyUsage.clientAuth];
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    // A leading 01 keeps the serial positive.
    serialNumber: "01" + hex(crypto.getRandomValues(new Uint8Array(16))),
    name: `O=LXD, CN=${o.cn}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + (o.days ?? 3650) * 86_400_000),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension(eku),
      // CA:FALSE: rustls (Deno's fetch and WebSocket) refuses a CA cert used as an end entity.
      new x509.BasicConstraintsExtension(false, undefined, true),
      ...(san.length ? [new x509.SubjectAlternativeNameExtension(san)] : []),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { cert: cert.toString("pem") + "\n", key: pemEncode("PRIVATE KEY", pkcs8) };
}
