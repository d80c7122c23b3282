/**
 * Certificates made by lib/tls/generate.ts: openssl reads them as the X.509 v3 certificates we
 * mean (extensions, SANs, validity, a signature that verifies with the key we hold), and they do
 * mutual TLS on 127.0.0.178 with both TLS stacks a member uses: node:tls (the API's server) and
 * rustls (Deno.connectTls, under fetch and WebSocket), which refuses what it finds malformed.
 */
import assert from "node:assert/strict";
import tls from "node:tls";
import type { AddressInfo } from "node:net";
import {
  bitString,
  ecdsaSignatureToDer,
  ipBytes,
  oid,
  smallInteger,
  time,
  tlv,
  unsignedInteger,
} from "./der.ts";
import { fingerprint, generateKeyPair, parseCertificate } from "./mod.ts";

const HOST = "127.0.0.178";
const hexOf = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

async function openssl(args: string[], stdin?: string): Promise<{ code: number; out: string }> {
  const p = new Deno.Command("openssl", {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  if (stdin !== undefined) {
    const w = p.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const o = await p.output();
  return { code: o.code, out: new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr) };
}

Deno.test("DER pieces encode as X.690 says", () => {
  assert.equal(hexOf(tlv(0x04, new Uint8Array(0x80))).slice(0, 6), "048180");
  assert.equal(hexOf(tlv(0x04, new Uint8Array(0x1234))).slice(0, 8), "04821234");
  assert.equal(hexOf(oid("1.2.840.10045.4.3.3")), "06082a8648ce3d040303");
  assert.equal(hexOf(oid("2.5.29.17")), "0603551d11");
  assert.equal(hexOf(smallInteger(2)), "020102");
  assert.equal(hexOf(smallInteger(0)), "020100");
  assert.equal(hexOf(unsignedInteger(Uint8Array.of(0, 0, 0x80))), "02020080");
  assert.equal(hexOf(bitString(Uint8Array.of(0xa0), 5)), "030205a0");
  assert.equal(new TextDecoder().decode(time(new Date("2036-11-30T11:53:05Z")).subarray(2)), "361130115305Z");
  assert.equal(
    new TextDecoder().decode(time(new Date("2050-01-02T03:04:05Z")).subarray(2)),
    "20500102030405Z",
  );
  assert.equal(time(new Date("2050-01-02T03:04:05Z"))[0], 0x18);
  assert.equal(hexOf(ipBytes("10.1.2.3")), "0a010203");
  assert.equal(hexOf(ipBytes("::1")), "00000000000000000000000000000001");
  assert.equal(hexOf(ipBytes("[fd42::10.0.0.1]")), "fd42000000000000000000000a000001");
  assert.equal(hexOf(ipBytes("1:2:3:4:5:6:7:8")), "00010002000300040005000600070008");
  for (const bad of ["1.2.3", "256.1.1.1", "1::2::3", "1:2:3:4:5:6:7:8:9", "host", "::g"]) {
    assert.throws(() => ipBytes(bad), /not an IP address/, bad);
  }
  // r with its top bit set gains a 0; s with leading zeros loses them
  const raw = new Uint8Array(96);
  raw[0] = 0x80;
  raw[95] = 1;
  assert.equal(hexOf(ecdsaSignatureToDer(raw)).slice(0, 10), "3036023100");
  assert.ok(hexOf(ecdsaSignatureToDer(raw)).endsWith("020101"));
});

Deno.test("openssl reads a generated server certificate as meant, and its signature verifies", async () => {
  const pair = await generateKeyPair({
    cn: "root@m1",
    kind: "server",
    dns: ["m1", "localhost"],
    ips: [HOST, "fd42::1"],
  });
  const text = await openssl(["x509", "-noout", "-text"], pair.cert);
  assert.equal(text.code, 0, text.out);
  for (
    const want of [
      /Version: 3 \(0x2\)/,
      /Signature Algorithm: ecdsa-with-SHA384/,
      /Issuer: O = LXD, CN = root@m1/,
      /Subject: O = LXD, CN = root@m1/,
      /NIST CURVE: P-384/,
      /Key Usage: critical\s+Digital Signature, Key Encipherment/,
      /Extended Key Usage: \s*TLS Web Server Authentication, TLS Web Client Authentication/,
      /Basic Constraints: critical\s+CA:FALSE/,
      /DNS:m1, DNS:localhost, IP Address:127\.0\.0\.178, IP Address:FD42:0:0:0:0:0:0:1/,
    ]
  ) assert.match(text.out, want);
  // the certificate's key is the private key's, and the self-signature verifies with it
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/c.crt`, pair.cert);
    const pub = await openssl(["pkey", "-pubout"], pair.key);
    const certPub = await openssl(["x509", "-noout", "-pubkey", "-in", `${dir}/c.crt`]);
    assert.equal(pub.code, 0, pub.out);
    assert.equal(certPub.out, pub.out);
    const v = await openssl(["verify", "-check_ss_sig", "-CAfile", `${dir}/c.crt`, `${dir}/c.crt`]);
    assert.equal(v.code, 0, v.out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const info = await parseCertificate(pair.cert);
  assert.equal(info.subjectCN, "root@m1");
  assert.ok(info.notAfter.getTime() - Date.now() > 3649 * 86_400_000);
  const client = await generateKeyPair({ cn: "u@h", kind: "client", days: 2 });
  const ct = await openssl(["x509", "-noout", "-text"], client.cert);
  assert.match(ct.out, /Extended Key Usage: \s*TLS Web Client Authentication\n/);
  assert.doesNotMatch(ct.out, /Subject Alternative Name/);
});

Deno.test({
  name: "generated certificates do mutual TLS with node:tls and with rustls",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const server = await generateKeyPair({ cn: "root@m1", kind: "server", dns: ["m1"], ips: [HOST] });
    const client = await generateKeyPair({ cn: "root@c", kind: "client" });
    const want = await fingerprint(client.cert);
    const seen: string[] = [];
    const srv = tls.createServer(
      { cert: server.cert, key: server.key, ca: [client.cert], requestCert: true, rejectUnauthorized: true },
      (s) => {
        const der = s.getPeerCertificate().raw;
        void crypto.subtle.digest("SHA-256", new Uint8Array(der)).then((d) => {
          seen.push(hexOf(new Uint8Array(d)));
          s.end("hello\n");
        });
      },
    );
    await new Promise<void>((r) => srv.listen(0, HOST, () => r()));
    const port = (srv.address() as AddressInfo).port;
    try {
      // node:tls client, the server pinned as its own CA
      const got = await new Promise<string>((resolve, reject) => {
        const c = tls.connect({
          host: HOST,
          port,
          cert: client.cert,
          key: client.key,
          ca: [server.cert],
          servername: "m1",
        });
        let buf = "";
        c.on("data", (d) => buf += d);
        c.on("end", () => resolve(buf));
        c.on("error", reject);
      });
      assert.equal(got, "hello\n");
      // rustls: verifies the server's chain and name, presents the client certificate
      const conn = await Deno.connectTls({
        hostname: HOST,
        port,
        caCerts: [server.cert],
        cert: client.cert,
        key: client.key,
      });
      const buf = new Uint8Array(16);
      const n = await conn.read(buf);
      conn.close();
      assert.equal(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "hello\n");
      assert.deepEqual(seen, [want, want]);
      // and a client the server does not trust is refused
      const stranger = await generateKeyPair({ cn: "x", kind: "client" });
      const refused = await new Promise<boolean>((resolve) => {
        const c = tls.connect({
          host: HOST,
          port,
          cert: stranger.cert,
          key: stranger.key,
          ca: [server.cert],
          servername: "m1",
        });
        c.on("data", () => resolve(false));
        c.on("error", () => resolve(true));
        c.on("end", () => resolve(true));
      });
      assert.ok(refused);
      assert.equal(seen.length, 2);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  },
});
