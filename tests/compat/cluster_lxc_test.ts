/**
 * The real lxc 5.0 client (Debian's lxd-client) manages a shoal cluster on 127.0.0.76-78 and
 * enables one on .79: `lxc cluster list|show|add|edit|role|set|get|unset|rename|list-tokens|
 * revoke-token|remove|enable`, over a member's unix socket (LXD_DIR) with its own LXD_CONF.
 * Skipped, saying so, without lxc.
 */
import assert from "node:assert/strict";
import { clusterList, formCluster } from "../helpers/cluster.ts";
import { Member, run, tempDir, waitFor } from "../helpers/member.ts";

const HAVE_LXC = (await run("sh", ["-c", "command -v lxc"])).code === 0;
if (!HAVE_LXC) console.log("tests/compat: lxc is not installed (apt-get install lxd-client): skipping");

const ADDR = ["127.0.0.76", "127.0.0.77"];
const JOINER = "127.0.0.78";
const STANDALONE = "127.0.0.79";

interface MemberJson {
  server_name: string;
  roles: string[];
  description: string;
  failure_domain: string;
  config: Record<string, string>;
}

async function member(m: Member, name: string): Promise<MemberJson> {
  const c = m.client();
  try {
    return await c.get<MemberJson>(`/1.0/cluster/members/${name}`);
  } finally {
    c.close();
  }
}

Deno.test({
  name: "the real lxc client manages cluster members",
  ignore: !HAVE_LXC,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using dir = await tempDir("compat-cluster");
    const ms = await formCluster(dir.path, ADDR);
    const [m1, m2] = ms as [Member, Member];
    let joiner: Member | null = null;
    let standalone: Member | null = null;
    const lxc = (m: Member, args: string[], stdin?: string) =>
      m.lxc(args, { conf: `${dir.path}/lxcconf-${m.name}`, stdin });
    try {
      await waitFor("two online members", async () => {
        const rows = await clusterList(m1);
        return rows.length === 2 && rows.every((r) => r.state === "ONLINE");
      }, 30_000);

      await t.step("lxc cluster list, as table and csv", async () => {
        const table = await lxc(m2, ["cluster", "list"]);
        assert.equal(table.code, 0, table.stderr);
        for (const h of ["NAME", "URL", "ROLES", "ARCHITECTURE", "FAILURE DOMAIN", "STATE", "MESSAGE"]) {
          assert.match(table.stdout, new RegExp(`\\| +${h} +\\|`), table.stdout);
        }
        const csv = await lxc(m2, ["cluster", "list", "--format", "csv"]);
        assert.equal(csv.code, 0, csv.stderr);
        const lines = csv.stdout.trim().split("\n");
        assert.equal(lines.length, 2, csv.stdout);
        assert.match(
          lines[0]!,
          /^m1,https:\/\/127\.0\.0\.76:8443,.*database.*,default,,ONLINE,Fully operational$/,
        );
        assert.match(
          lines[1]!,
          /^m2,https:\/\/127\.0\.0\.77:8443,.*database.*,default,,ONLINE,Fully operational$/,
        );
      });

      await t.step("lxc cluster show prints the member as YAML", async () => {
        const r = await lxc(m1, ["cluster", "show", "m2"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^server_name: m2$/m);
        assert.match(r.stdout, /^url: https:\/\/127\.0\.0\.77:8443$/m);
        assert.match(r.stdout, /^status: Online$/m);
        assert.match(r.stdout, /^groups:\n- default$/m);
        const missing = await lxc(m1, ["cluster", "show", "nosuch"]);
        assert.equal(missing.code, 1);
        assert.match(missing.stderr, /^Error: Cluster member not found/);
      });

      await t.step("lxc cluster edit from stdin replaces the writable part", async () => {
        const yaml =
          "roles: []\nfailure_domain: rack1\ndescription: by lxc\nconfig:\n  user.k: v\ngroups:\n- default\n";
        const r = await lxc(m1, ["cluster", "edit", "m2"], yaml);
        assert.equal(r.code, 0, r.stderr);
        // Read where it was written: each member reads its own writes.
        const m = await member(m1, "m2");
        assert.equal(m.description, "by lxc");
        assert.equal(m.failure_domain, "rack1");
        assert.deepEqual(m.config, { "user.k": "v" });
        assert.ok(m.roles.some((x) => x.startsWith("database")), "the automatic role stays");
        const bad = await lxc(m1, ["cluster", "edit", "m2"], "roles: [bogus]\ngroups: [default]\n");
        assert.equal(bad.code, 1);
        assert.equal(bad.stderr, 'Error: Invalid cluster role "bogus"\n');
      });

      await t.step("lxc cluster role add and remove (GET with ETag, then PUT with If-Match)", async () => {
        let r = await lxc(m2, ["cluster", "role", "add", "m1", "event-hub"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal((await member(m2, "m1")).roles[0], "event-hub");
        r = await lxc(m2, ["cluster", "role", "add", "m1", "event-hub"]);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, 'Error: Member "m1" already has role "event-hub"\n');
        r = await lxc(m2, ["cluster", "role", "remove", "m1", "event-hub"]);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(!(await member(m2, "m1")).roles.includes("event-hub"));
        r = await lxc(m2, ["cluster", "role", "add", "m1", "database-standby"]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /cannot be added manually|Invalid cluster role/);
      });

      await t.step("lxc cluster set, get and unset", async () => {
        let r = await lxc(m1, ["cluster", "set", "m1", "user.colour=red"]);
        assert.equal(r.code, 0, r.stderr);
        r = await lxc(m1, ["cluster", "get", "m1", "user.colour"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "red\n");
        r = await lxc(m1, ["cluster", "unset", "m1", "user.colour"]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual((await member(m1, "m1")).config, {});
      });

      await t.step("lxc cluster add, list-tokens and revoke-token; the token joins", async () => {
        let r = await lxc(m1, ["cluster", "add", "m9"]);
        assert.equal(r.code, 0, r.stderr);
        r = await lxc(m1, ["cluster", "list-tokens", "--format", "csv"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^m9,\S+,\d{4}\/\d\d\/\d\d \d\d:\d\d UTC$/m);
        r = await lxc(m1, ["cluster", "revoke-token", "m9"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "Cluster join token for local:m9 deleted\n");

        r = await lxc(m2, ["cluster", "add", "m3"]);
        assert.equal(r.code, 0, r.stderr);
        const [head, token] = r.stdout.trim().split("\n");
        assert.equal(head, "Member m3 join token:");
        joiner = new Member(`${dir.path}/m3`, "m3");
        await joiner.start();
        const j = await joiner.shoald(["init", "--preseed"], {
          stdin:
            `cluster:\n  enabled: true\n  server_name: m3\n  server_address: ${JOINER}:8443\n  cluster_token: ${token}\n`,
        });
        assert.equal(j.code, 0, j.stderr);
        await waitFor("m3 in lxc cluster list", async () => {
          const l = await lxc(m1, ["cluster", "list", "--format", "csv"]);
          return /^m3,https:\/\/127\.0\.0\.78:8443,/m.test(l.stdout);
        });
      });

      await t.step("lxc cluster rename, then lxc cluster remove", async () => {
        let r = await lxc(m1, ["cluster", "rename", "m3", "m3x"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "Member m3 renamed to m3x\n");
        r = await lxc(m1, ["cluster", "rename", "m3x", "m2"]);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, 'Error: A cluster member already exists with name "m2"\n');
        r = await lxc(m2, ["cluster", "remove", "m3x", "--force"], "no\n");
        assert.equal(r.code, 1);
        assert.equal(r.stderr, "Error: User aborted delete operation\n");
        joiner!.expectExit();
        r = await lxc(m2, ["cluster", "remove", "m3x"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "Member m3x removed\n");
        await waitFor("m3x gone", async () => !(await clusterList(m1)).some((x) => x.name === "m3x"));
      });

      await t.step("lxc cluster enable on a standalone server", async () => {
        standalone = new Member(`${dir.path}/s1`, "s1");
        await standalone.start();
        // lxc 5.0.2 has no client-side address check: the server refuses, in LXD 5.0's words (after
        // lxc's first-run greeting on a new LXD_CONF).
        let r = await lxc(standalone, ["cluster", "enable", "s1"]);
        assert.equal(r.code, 1);
        assert.ok(
          r.stderr.endsWith(
            'Error: Failed to configure cluster: Failed configuring cluster: Cannot use wildcard core.https_address "" for cluster.https_address. Please specify a new cluster.https_address or core.https_address\n',
          ),
          r.stderr,
        );
        r = await lxc(standalone, ["config", "set", "core.https_address", `${STANDALONE}:8443`]);
        assert.equal(r.code, 0, r.stderr);
        r = await lxc(standalone, ["cluster", "enable", "s1"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "Clustering enabled\n");
        r = await lxc(standalone, ["cluster", "list", "--format", "csv"]);
        assert.match(r.stdout, /^s1,https:\/\/127\.0\.0\.79:8443,"?database-leader[,"]/m);
        r = await lxc(standalone, ["cluster", "enable", "s1"]);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, "Error: This LXD server is already clustered\n");
      });
    } finally {
      for (const m of [...ms, ...(joiner ? [joiner] : []), ...(standalone ? [standalone] : [])]) {
        await m.stop();
      }
    }
  },
});
