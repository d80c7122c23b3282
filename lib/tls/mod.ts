/**
 * Certificates: generation (ECDSA P-384, CA:FALSE, SANs, as STACK.md §4 measured), fingerprints in
 * LXD's format (lowercase hex SHA-256 of the DER), and key pairs on disk.
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto);

/** A certificate and its private key, both PEM. */
export interface KeyPair {
  cert: string;
  key: string;
}

/** What a generated certificate is for. */
export interface CertOptions {
  /** Common name, e.g. "root@host". */
  cn: string;
  /** "server" certs also allow client auth: members present them to each other. */
  kind: "server" | "client";
  dns?: string[];
  ips?: string[];
  /** Validity in days; 10 years by default. */
  days?: number;
}

function hex(b: ArrayBuffer | Uint8Array): string {
  return [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
}

function pemEncode(label: string, der: ArrayBuffer): string {
  const b64 = btoa(String.fromCharCode(...new Uint8Array(der)));
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;
}

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
  let c: x509.X509Certificate;
  try {
    c = new x509.X509Certificate(pemToDer(pem) as Uint8Array<ArrayBuffer>);
  } catch {
    throw new Error("Certificate must be PEM-encoded X.509 certificate");
  }
  const cn = /CN=([^,]+)/.exec(c.subject)?.[1] ?? "";
  return {
    fingerprint: await fingerprint(pem),
    subjectCN: cn,
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    der: c.rawData ? new Uint8Array(c.rawData) : pemToDer(pem),
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
