/**
 * One cluster certificate, replaced on every member at once (PUT /1.0/cluster/certificate,
 * `shoal cluster update-certificate`), on 127.0.0.121-123; refused, changing nothing, while a
 * member is offline: the operation needs every member.
 */
import assert from "node:assert/strict";
import { fetchServerCertificate } from "../../lib/client/mod.ts";
import { fingerprint, generateKeyPair } from "../../lib/tls/mod.ts";
import { clusterList, formCluster } from "../helpers/cluster.ts";
import { tempDir, waitFor } from "../helpers/member.ts";

const H = ["127.0.0.121", "127.0.0.122", "127.0.0.123"];

async function served(host: string): Promise<string> {
  return await fingerprint(await fetchServerCertificate(host, 8443, 5_000));
}

Deno.test({
  name: "cluster certificate: replaced on all members at once; refused while a member is offline",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using dir = await tempDir("cluster-cert");
    const ms = await formCluster(dir.path, H, { extraConfig: { "cluster.offline_threshold": "11" } });
    try {
      const [m1, m2, m3] = ms as [typeof ms[0], typeof ms[0], typeof ms[0]];
      const before = await served(H[0]!);

      await t.step("bad input gets LXD's messages and changes nothing", async () => {
        const r = await m1.shoal([
          "query",
          "-X",
          "PUT",
          "-d",
          '{"cluster_certificate":"x","cluster_certificate_key":"y"}',
          "/1.0/cluster/certificate",
        ]);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /Certificate must be PEM-encoded X.509 certificate/);
        for (const h of H) assert.equal(await served(h), before);
      });

      await t.step("update-certificate switches every member, and the cluster keeps working", async () => {
        const pair = await generateKeyPair({ cn: "root@shoal-test", kind: "server", ips: H });
        await Deno.writeTextFile(`${dir.path}/new.crt`, pair.cert);
        await Deno.writeTextFile(`${dir.path}/new.key`, pair.key);
        const r = await m2.shoal([
          "cluster",
          "update-certificate",
          `${dir.path}/new.crt`,
          `${dir.path}/new.key`,
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.trim(), "Successfully updated cluster certificates for remote local");
        const want = await fingerprint(pair.cert);
        for (const h of H) assert.equal(await served(h), want, `${h} still serves the old certificate`);
        for (const m of ms) assert.equal(await Deno.readTextFile(`${m.dir}/cluster.crt`), pair.cert);
        // Raft and forwarding run on the new certificate: a write on m3 is read on m1.
        const w = await m3.shoal(["config", "set", "user.after-cert", "yes"]);
        assert.equal(w.code, 0, w.stderr);
        const g = await m1.shoal(["config", "get", "user.after-cert"]);
        assert.equal(g.stdout.trim(), "yes");
        await waitFor(
          "all online",
          async () => (await clusterList(m1)).every((x) => x.state === "ONLINE"),
          20_000,
        );
      });

      await t.step(
        "a CA:TRUE certificate an operator brings (openssl's default) carries the streams too",
        async () => {
          // rustls refuses a CA:TRUE certificate served as the server's own (STACK.md §3): the
          // members' streams run on node:tls, which takes it (lib/transport/client_ws.ts).
          const r = await new Deno.Command("openssl", {
            args: ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
              .concat([
                "-subj",
                "/CN=byo",
                "-days",
                "2",
                "-keyout",
                `${dir.path}/ca.key`,
                "-out",
                `${dir.path}/ca.crt`,
              ]),
            stderr: "piped",
          }).output();
          assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
          const text = new TextDecoder().decode(
            (await new Deno.Command("openssl", {
              args: ["x509", "-in", `${dir.path}/ca.crt`, "-noout", "-text"],
            })
              .output()).stdout,
          );
          assert.match(text, /CA:TRUE/);
          const u = await m1.shoal([
            "cluster",
            "update-certificate",
            `${dir.path}/ca.crt`,
            `${dir.path}/ca.key`,
          ]);
          assert.equal(u.code, 0, u.stderr);
          const want = await fingerprint(await Deno.readTextFile(`${dir.path}/ca.crt`));
          for (const h of H) assert.equal(await served(h), want);
          // A write on a follower is forwarded on a call stream and replicated on the Raft streams.
          for (const [m, v] of [[m3, "3"], [m2, "2"]] as const) {
            const w = await m.shoal(["config", "set", "user.ca-true", v]);
            assert.equal(w.code, 0, w.stderr);
            const g = await m1.shoal(["config", "get", "user.ca-true"]);
            assert.equal(g.stdout.trim(), v);
          }
          await waitFor(
            "all online",
            async () => (await clusterList(m1)).every((x) => x.state === "ONLINE"),
            20_000,
          );
        },
      );

      await t.step("while a member is offline the update is refused and nothing changes", async () => {
        const current = await served(H[0]!);
        await m3.kill();
        await waitFor(
          "m3 offline",
          async () => (await clusterList(m1)).find((x) => x.name === "m3")?.state === "OFFLINE",
          30_000,
        );
        const pair = await generateKeyPair({ cn: "root@shoal-test2", kind: "server", ips: H });
        await Deno.writeTextFile(`${dir.path}/new2.crt`, pair.cert);
        await Deno.writeTextFile(`${dir.path}/new2.key`, pair.key);
        const r = await m1.shoal([
          "cluster",
          "update-certificate",
          `${dir.path}/new2.crt`,
          `${dir.path}/new2.key`,
        ]);
        assert.notEqual(r.code, 0);
        assert.match(
          r.stderr,
          /Cannot update the cluster certificate: it is needed by every member and "m3" \(No heartbeat for/,
        );
        assert.equal(await served(H[0]!), current);
        assert.equal(await served(H[1]!), current);
      });
    } finally {
      await Promise.all(ms.map((m) => m.stop()));
    }
  },
});
