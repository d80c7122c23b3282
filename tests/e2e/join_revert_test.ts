/**
 * A join that fails after the leader accepted the joiner is taken back, with real daemons on
 * 127.0.0.40-42: the joiner is a standalone server again (no cluster certificate, its old
 * addresses, its own database), the cluster no longer counts it (no row, no Raft seat), and a
 * fresh token for the same name then joins it. Two failure points, each made real: the cluster
 * key pair cannot be written (a directory where the certificate goes), and the joiner's part of
 * a storage pool cannot be made (its `source` lies under a regular file). The failures before
 * the accept change nothing here (a wrong trust password: membership_test; mismatching pools:
 * cluster_init_test).
 */
import assert from "node:assert/strict";
import { clusterList } from "../helpers/cluster.ts";
import { Member, tempDir, waitFor } from "../helpers/member.ts";

const H = ["127.0.0.40", "127.0.0.41", "127.0.0.42"];

async function ok(p: Promise<{ code: number; stdout: string; stderr: string }>): Promise<string> {
  const r = await p;
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** m joins through via by a fresh token; the preseed's result. */
async function join(m: Member, via: Member, address: string, memberConfig = "") {
  const token = (await ok(via.shoal(["cluster", "add", m.name, "--quiet"]))).trim();
  return await m.shoald(["init", "--preseed"], {
    stdin:
      `cluster:\n  enabled: true\n  server_name: ${m.name}\n  server_address: ${address}:8443\n  cluster_token: ${token}\n${memberConfig}`,
  });
}

/** The joiner is standalone again and the cluster is m1 alone, in its rows and in Raft. */
async function assertTakenBack(m1: Member, m: Member): Promise<void> {
  const info = JSON.parse(await ok(m.shoal(["query", "/1.0/cluster"])));
  assert.equal(info.enabled, false);
  assert.equal(info.server_name, "");
  for (const f of ["cluster.key", "cluster.key.tmp", "cluster.crt.tmp"]) {
    await assert.rejects(Deno.stat(`${m.dir}/${f}`), Deno.errors.NotFound, `${f} left behind`);
  }
  assert.equal((await ok(m.shoal(["config", "get", "core.https_address"]))).trim(), "");
  // Its own database works: a write on the standalone server.
  await ok(m.shoal(["config", "set", "user.after", "failed-join"]));
  await waitFor("the cluster without the joiner", async () => {
    const rows = await clusterList(m1);
    const raft = JSON.parse(await ok(m1.shoal(["query", "/internal/raft/status"])));
    const members = [...raft.conf.voters, ...raft.conf.standbys, ...raft.conf.spares];
    return rows.length === 1 && rows[0]!.name === "m1" && members.length === 1;
  });
}

Deno.test({
  name: "join: a join that fails after the accept is taken back, and the member can join again",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using dir = await tempDir("join-revert");
    const ms = [1, 2, 3].map((i) => new Member(`${dir.path}/m${i}`, `m${i}`));
    try {
      for (const m of ms) await m.start();
      const [m1, m2, m3] = ms as [Member, Member, Member];
      await ok(m1.shoald(["init", "--preseed"], {
        stdin: `config:\n  core.https_address: ${
          H[0]
        }:8443\nstorage_pools:\n- name: data\n  driver: dir\ncluster:\n  server_name: m1\n  enabled: true\n`,
      }));

      await t.step("the joiner's part of a pool cannot be made", async () => {
        await Deno.writeTextFile(`${dir.path}/a-file`, "not a directory\n");
        const bad =
          `  member_config:\n  - entity: storage-pool\n    name: data\n    key: source\n    value: ${dir.path}/a-file/data\n`;
        const r = await join(m2, m1, H[1]!, bad);
        assert.notEqual(r.code, 0, "the join must fail");
        await assertTakenBack(m1, m2);
        // A fresh token for the same name joins it, now with a source that can be made.
        const good =
          `  member_config:\n  - entity: storage-pool\n    name: data\n    key: source\n    value: ${dir.path}/m2-data\n`;
        await ok(join(m2, m1, H[1]!, good));
        await waitFor("m2 online", async () => {
          const rows = await clusterList(m1);
          return rows.length === 2 && rows.every((x) => x.state === "ONLINE");
        });
        await Deno.stat(`${dir.path}/m2-data/containers`);
      });

      await t.step("the cluster key pair cannot be written", async () => {
        // Where the certificate goes, a directory that is not ours to remove (not empty).
        await Deno.mkdir(`${m3.dir}/cluster.crt/keep`, { recursive: true });
        const r = await join(m3, m1, H[2]!);
        assert.notEqual(r.code, 0, "the join must fail");
        // Only m1 and m2 remain.
        await waitFor("the cluster without m3", async () => {
          const rows = await clusterList(m1);
          return rows.length === 2 && !rows.some((x) => x.name === "m3");
        });
        const info = JSON.parse(await ok(m3.shoal(["query", "/1.0/cluster"])));
        assert.equal(info.enabled, false);
        await assert.rejects(Deno.stat(`${m3.dir}/cluster.key`), Deno.errors.NotFound);
        await Deno.stat(`${m3.dir}/cluster.crt/keep`); // what the join did not write stays
        await Deno.remove(`${m3.dir}/cluster.crt`, { recursive: true });
        await ok(join(m3, m1, H[2]!));
        await waitFor("three members online", async () => {
          const rows = await clusterList(m1);
          return rows.length === 3 && rows.every((x) => x.state === "ONLINE");
        });
      });
    } finally {
      for (const m of ms) await m.stop();
    }
  },
});
