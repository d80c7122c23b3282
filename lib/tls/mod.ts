/**
 * Certificates: generation (ECDSA P-384, CA:FALSE, SANs, as STACK.md §4 measured), fingerprints in
 * LXD's format (lowercase hex SHA-256 of the DER), and key pairs on disk.
 * @module
 */
// node:crypto loads where a certificate is parsed, not with this module: ~5 ms of every client
// command's start otherwise (bench/cli.ts), and most never parse one.
import type { X509Certificate } from "node:crypto";
import { type CertOptions, hex, type KeyPair, pemEncode } from "./pem.ts";

export type { CertOptions, KeyPair } from "./pem.ts";

/**
 * Generates a self-signed certificate and key (lib/tls/generate.ts: WebCrypto and a few lines of
 * DER), loaded when a certificate is made: most commands and a member at rest never make one.
 */
export async function generateKeyPair(o: CertOptions): Promise<KeyPair> {
  return (await import("./generate.ts")).generateKeyPair(o);
}

/** Decodes the first PEM certificate in text to DER; throws on anything else. */
export function pemToDer(pem: string): Uint8Array {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  if (!m) throw new Error("Certificate must be PEM-encoded X.509 certificate");
  const bin = atob(m[1]!.replace(/\s+/g, ""));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** LXD's certificate fingerprint: lowercase hex SHA-256 of the DER. */
export async function fingerprint(pem: string): Promise<string> {
  const der = pemToDer(pem);
  return hex(await crypto.subtle.digest("SHA-256", der as Uint8Array<ArrayBuffer>));
}

/** Parsed facts about a certificate that the API shows. */
export interface CertInfo {
  fingerprint: string;
  subjectCN: string;
  notBefore: Date;
  notAfter: Date;
  der: Uint8Array;
}

/** Parses a PEM certificate; throws LXD's message when it is not one. */
export async function parseCertificate(pem: string): Promise<CertInfo> {
  const { X509Certificate } = await import("node:crypto");
  let c: X509Certificate;
  const der = pemToDer(pem);
  try {
    // node:crypto's parser is built into the runtime: nothing more to load.
    c = new X509Certificate(der);
  } catch {
    throw new Error("Certificate must be PEM-encoded X.509 certificate");
  }
  // node:crypto writes the subject one attribute a line ("O=LXD\nCN=root@host").
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(c.subject)?.[1] ?? "";
  return {
    fingerprint: await fingerprint(pem),
    subjectCN: cn,
    notBefore: new Date(c.validFrom),
    notAfter: new Date(c.validTo),
    der,
  };
}

/** Base64 of a certificate's DER, the form LXD stores in `certificates.certificate`... as PEM. */
export function derToPem(der: Uint8Array): string {
  return pemEncode(
    "CERTIFICATE",
    der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer,
  );
}

/** Checks that text holds a PEM private key (PKCS#8, PKCS#1 or SEC1). */
export function isPemKey(pem: string): boolean {
  return /-----BEGIN (EC |RSA )?PRIVATE KEY-----[\s\S]+-----END (EC |RSA )?PRIVATE KEY-----/.test(pem);
}

/** Reads name.crt/name.key from dir, or generates and writes them (key mode 0600). */
export async function loadOrCreateKeyPair(
  dir: string,
  name: string,
  options: CertOptions,
): Promise<KeyPair> {
  const certPath = `${dir}/${name}.crt`;
  const keyPath = `${dir}/${name}.key`;
  try {
    return { cert: await Deno.readTextFile(certPath), key: await Deno.readTextFile(keyPath) };
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const pair = await generateKeyPair(options);
  await writeKeyPair(dir, name, pair);
  return pair;
}

/** Writes name.crt (0644) and name.key (0600) atomically (write then rename). */
export async function writeKeyPair(dir: string, name: string, pair: KeyPair): Promise<void> {
  await Deno.writeTextFile(`${dir}/${name}.key.tmp`, pair.key, { mode: 0o600 });
  await Deno.writeTextFile(`${dir}/${name}.crt.tmp`, pair.cert, { mode: 0o644 });
  await Deno.rename(`${dir}/${name}.key.tmp`, `${dir}/${name}.key`);
  await Deno.rename(`${dir}/${name}.crt.tmp`, `${dir}/${name}.crt`);
}

/** Reads name.crt/name.key from dir, or null if absent. */
export async function readKeyPair(dir: string, name: string): Promise<KeyPair | null> {
  try {
    return {
      cert: await Deno.readTextFile(`${dir}/${name}.crt`),
      key: await Deno.readTextFile(`${dir}/${name}.key`),
    };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}
