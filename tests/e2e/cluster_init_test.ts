/**
 * Forming a cluster the interactive way and with member-specific configuration, on
 * 127.0.0.111-114: `shoald init` answered on stdin (bootstrap, token join, trust-password join
 * that shows the certificate's fingerprint), GET /1.0/cluster's member_config for the cluster's
 * pools, a joiner's own `source`, and a joiner whose pools do not match.
 */
import assert from "node:assert/strict";
import { clusterList } from "../helpers/cluster.ts";
import { Member, tempDir, waitFor } from "../helpers/member.ts";
import { fingerprint } from "../../lib/tls/mod.ts";

const H = ["127.0.0.111", "127.0.0.112", "127.0.0.113", "127.0.0.114"];

async function ok(p: Promise<{ code: number; stdout: string; stderr: string }>): Promise<string> {
  const r = await p;
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

const POOL = `storage_pools:\n- name: data\n  driver: dir\n`;

Deno.test({
  name: "cluster init: interactive bootstrap and joins, member_config, mismatching pools",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using dir = await tempDir("cluster-init");
    const ms = [1, 2, 3, 4].map((i) => new Member(`${dir.path}/m${i}`, `m${i}`));
    try {
      for (const m of ms) await m.start();
      const [m1, m2, m3, m4] = ms as [Member, Member, Member, Member];

      await t.step("interactive bootstrap: the questions lxd init asks about clustering", async () => {
        await ok(m1.shoald(["init", "--preseed"], { stdin: POOL }));
        const out = await ok(m1.shoald(["init"], { stdin: `yes\n${H[0]}\nno\nc1\n\nno\n` }));
        assert.match(out, /Would you like to use LXD clustering\?/);
        assert.match(out, /What member name should be used/);
        const rows = await clusterList(m1);
        assert.deepEqual(rows.map((r) => [r.name, r.url]), [["c1", `https://${H[0]}:8443`]]);
      });

      await t.step("GET /1.0/cluster lists the member-specific keys of the cluster's pools", async () => {
        const info = JSON.parse(await ok(m1.shoal(["query", "/1.0/cluster"])));
        assert.equal(info.enabled, true);
        assert.equal(info.server_name, "c1");
        assert.deepEqual(info.member_config, [{
          entity: "storage-pool",
          name: "data",
          key: "source",
          value: "",
          description: '"source" property for storage pool "data"',
        }]);
      });

      await t.step("interactive join with a token; the token's name wins", async () => {
        const token = (await ok(m1.shoal(["cluster", "add", "c2", "--quiet"]))).trim();
        // The empty answer to the pool's "source" takes the default place.
        const out = await ok(
          m2.shoald(["init"], { stdin: `yes\n${H[1]}\nyes\nyes\n${token}\n\nyes\n\nno\n` }),
        );
        assert.match(out, /Please provide join token/);
        assert.match(out, /Choose "source" property for storage pool "data": /);
        const rows = await clusterList(m1);
        assert.deepEqual(rows.map((r) => r.name), ["c1", "c2"]);
        // Its part of the pool was made for it, at the default place (a member's own keys show
        // with ?target=, as in LXD).
        const pool = await ok(m2.shoal(["query", "/1.0/storage-pools/data?target=c2"]));
        assert.equal(JSON.parse(pool).config.source, `${m2.dir}/storage-pools/data`);
        await Deno.stat(`${m2.dir}/storage-pools/data/containers`);
      });

      await t.step("a preseed join answers member_config with its own source", async () => {
        const token = (await ok(m1.shoal(["cluster", "add", "c3", "--quiet"]))).trim();
        const src = `${dir.path}/c3-data`;
        await ok(m3.shoald(["init", "--preseed"], {
          stdin: `cluster:\n  enabled: true\n  server_name: c3\n  server_address: ${
            H[2]
          }:8443\n  cluster_token: ${token}\n  member_config:\n  - entity: storage-pool\n    name: data\n    key: source\n    value: ${src}\n`,
        }));
        const pool = JSON.parse(await ok(m3.shoal(["query", "/1.0/storage-pools/data?target=c3"])));
        assert.equal(pool.config.source, src);
        await Deno.stat(`${src}/containers`);
        // The other members keep their own.
        assert.equal(
          JSON.parse(await ok(m1.shoal(["query", "/1.0/storage-pools/data?target=c1"]))).config.source,
          `${m1.dir}/storage-pools/data`,
        );
      });

      await t.step(
        "a joiner whose pools do not match the cluster's is refused and nothing changes",
        async () => {
          await ok(
            m4.shoald(["init", "--preseed"], { stdin: `storage_pools:\n- name: other\n  driver: dir\n` }),
          );
          await ok(m1.shoal(["config", "set", "core.trust_password", "pw"]));
          const token = (await ok(m1.shoal(["cluster", "add", "c4", "--quiet"]))).trim();
          const r = await m4.shoald(["init", "--preseed"], {
            stdin: `cluster:\n  enabled: true\n  server_name: c4\n  server_address: ${
              H[3]
            }:8443\n  cluster_token: ${token}\n`,
          });
          assert.notEqual(r.code, 0);
          assert.match(r.stderr, /storage pool "other", which the cluster does not have/);
          assert.equal((await clusterList(m1)).length, 3);
          assert.equal(JSON.parse(await ok(m4.shoal(["query", "/1.0/cluster"]))).enabled, false);
        },
      );

      await t.step("interactive join with the trust password after confirming the fingerprint", async () => {
        await ok(m4.shoal(["storage", "delete", "other"]));
        const fp = await fingerprint(await Deno.readTextFile(`${m1.dir}/cluster.crt`));
        // A wrong fingerprint answer aborts before anything is sent.
        const no = await m4.shoald(["init"], { stdin: `yes\n${H[3]}\nyes\nno\nc4\n${H[0]}\nno\n` });
        assert.notEqual(no.code, 0);
        assert.match(no.stdout, new RegExp(`Cluster fingerprint: ${fp}`));
        assert.match(no.stderr, /User aborted configuration/);
        const src = `${dir.path}/c4-data`;
        const out = await ok(
          m4.shoald(["init"], {
            stdin: `yes\n${H[3]}\nyes\nno\nc4\n${H[0]}\n${fp}\npw\n${src}\nyes\n\nno\n`,
          }),
        );
        assert.match(out, /Is this the correct fingerprint\?/);
        assert.match(out, /Choose "source" property for storage pool "data": /);
        await waitFor("4 members", async () => (await clusterList(m1)).length === 4, 20_000);
        assert.equal(
          JSON.parse(await ok(m4.shoal(["query", "/1.0/storage-pools/data?target=c4"]))).config.source,
          src,
        );
        await Deno.stat(`${src}/containers`);
      });
    } finally {
      await Promise.all(ms.map((m) => m.stop()));
    }
  },
});
