/**
 * Managing cluster members with real daemons on 127.0.0.71-75 (issue 5, items 3, 6 and 9):
 * PUT/PATCH of a member with LXD's checks and ETag, `cluster edit|set|get|unset|role`, rename
 * (also as the renamed member sees itself), join tokens (list, revoke, expiry, used or wrong
 * ones), removal refused while a member holds instances, --force with its confirmation, and
 * `cluster enable` on a standalone server.
 */
import assert from "node:assert/strict";
import type { Event } from "../../lib/wire/mod.ts";
import { clusterList, formCluster } from "../helpers/cluster.ts";
import { Member, run, SHOAL, tempDir, waitFor } from "../helpers/member.ts";
import { refusal, withClient } from "../helpers/requests.ts";

const HAVE_SCRIPT = (await run("sh", ["-c", "command -v script"])).code === 0;

const ADDR = ["127.0.0.71", "127.0.0.72", "127.0.0.73"];
const STANDALONE = "127.0.0.74";
const JOIN_FAILS = "127.0.0.75";

interface MemberJson {
  server_name: string;
  roles: string[];
  failure_domain: string;
  description: string;
  config: Record<string, string>;
  groups: string[];
}

function getMember(m: Member, name: string) {
  return withClient(m, (c) => c.request<MemberJson>("GET", `/1.0/cluster/members/${name}`));
}

async function sqlGlobal(m: Member, query: string): Promise<string> {
  const r = await m.shoald(["sql", "global", "--format", "csv", query]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

/** Joins with a token through `shoald init --preseed`; returns the outcome. */
function joinWith(m: Member, name: string, address: string, token: string) {
  return m.shoald(["init", "--preseed"], {
    stdin:
      `cluster:\n  enabled: true\n  server_name: ${name}\n  server_address: ${address}:8443\n  cluster_token: ${token}\n`,
  });
}

Deno.test({
  name: "cluster members: update, rename, tokens, removal and enable",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using dir = await tempDir("cluster-members");
    const ms = await formCluster(dir.path, ADDR);
    const others: Member[] = [];
    const [m1, m2, m3] = ms as [Member, Member, Member];
    const events: Event[] = [];
    const watcher = m2.client();
    try {
      const stream = await watcher.events(["lifecycle"], (e) => void events.push(e));
      await stream.ready;
      // Voters all: a member that joined last is a stand-by until promoted, and the PUT step
      // below expects m3's roles to be settled (a stand-by may "add" database-standby).
      await waitFor("three online members, all voters", async () => {
        const rows = await clusterList(m1);
        return rows.length === 3 && rows.every((r) => r.state === "ONLINE" && r.roles.includes("database"));
      }, 30_000);

      await t.step("PUT with a stale If-Match is refused with 412; with the ETag it applies", async () => {
        const { metadata: cur, etag } = await getMember(m1, "m2");
        assert.ok(etag);
        const put = { ...cur, description: "second", failure_domain: "rack2" };
        const stale = await refusal(
          withClient(
            m1,
            (c) =>
              c.request("PUT", "/1.0/cluster/members/m2", { body: put, headers: { "If-Match": "deadbeef" } }),
          ),
        );
        assert.equal(stale.status, 412);
        await withClient(
          m1,
          (c) => c.request("PUT", "/1.0/cluster/members/m2", { body: put, headers: { "If-Match": etag! } }),
        );
        // Written through Raft: another member reads it, and the failure domain row exists.
        const seen = await waitFor("the update on m3", async () => {
          const m = (await getMember(m3, "m2")).metadata;
          return m.description === "second" ? m : null;
        });
        assert.equal(seen.failure_domain, "rack2");
        assert.deepEqual(seen.roles, cur.roles, "automatic roles are kept");
        assert.equal(await sqlGlobal(m3, "SELECT name FROM nodes_failure_domains"), "rack2");
        const list = await m3.shoal(["cluster", "list", "--format", "csv"]);
        assert.match(
          list.stdout,
          /^m2,https:\/\/127\.0\.0\.72:8443,.*,rack2,second,ONLINE,Fully operational$/m,
        );
        // The old ETag no longer matches.
        const again = await refusal(
          withClient(
            m1,
            (c) => c.request("PUT", "/1.0/cluster/members/m2", { body: put, headers: { "If-Match": etag! } }),
          ),
        );
        assert.equal(again.status, 412);
      });

      await t.step("PUT validates roles, config and groups with LXD's texts", async () => {
        const { metadata: cur } = await getMember(m1, "m3");
        const bad = async (body: unknown) =>
          await refusal(withClient(m1, (c) => c.request("PUT", "/1.0/cluster/members/m3", { body })));
        const cases: [unknown, string][] = [
          [{ ...cur, roles: ["bogus"] }, 'Invalid cluster role "bogus"'],
          [{ ...cur, roles: ["event-hub", "event-hub"] }, 'Duplicate role "event-hub" in request'],
          [
            { ...cur, roles: ["database-standby"] },
            'The automatically assigned "database-standby" role cannot be added manually',
          ],
          [
            { ...cur, config: { "core.https_address": "x" } },
            'Invalid cluster configuration key "core.https_address"',
          ],
          [
            { ...cur, config: { "scheduler.instance": "some" } },
            'Invalid cluster configuration key "scheduler.instance" value',
          ],
          [{ ...cur, groups: [] }, "Cluster members need to belong to at least one group"],
          [{ ...cur, groups: ["nosuch"] }, 'Cluster group "nosuch" does not exist'],
        ];
        for (const [body, text] of cases) {
          const e = await bad(body);
          assert.equal(e.message, text);
          assert.equal(e.status, text.includes("does not exist") ? 404 : 400);
        }
        const nf = await refusal(
          withClient(m1, (c) => c.request("PUT", "/1.0/cluster/members/nosuch", { body: cur })),
        );
        assert.equal(nf.status, 404);
        assert.equal((await getMember(m1, "m3")).metadata.description, "", "nothing was applied");
      });

      await t.step("PATCH merges config; an automatic role left out is kept", async () => {
        const { metadata: cur } = await getMember(m1, "m3");
        await withClient(m3, (c) =>
          c.request("PUT", "/1.0/cluster/members/m3", {
            body: { ...cur, config: { "user.a": "1", "scheduler.instance": "manual" } },
          }));
        await withClient(m3, (c) =>
          c.request("PATCH", "/1.0/cluster/members/m3", {
            body: { roles: [], groups: ["default"], config: { "user.b": "2" }, description: "third" },
          }));
        // Read where it was written: each member reads its own writes.
        const after = (await getMember(m3, "m3")).metadata;
        assert.deepEqual(after.config, { "scheduler.instance": "manual", "user.a": "1", "user.b": "2" });
        assert.deepEqual(after.roles, cur.roles);
        assert.equal(after.description, "third");
        const noGroups = await refusal(
          withClient(
            m1,
            (c) => c.request("PATCH", "/1.0/cluster/members/m3", { body: { description: "x" } }),
          ),
        );
        assert.equal(noGroups.message, "Cluster members need to belong to at least one group");
        await waitFor(
          "cluster-member-updated events",
          () =>
            events.filter((e) =>
              (e.metadata as { action?: string }).action === "cluster-member-updated" &&
              (e.metadata as { source?: string }).source === "/1.0/cluster/members/m3"
            ).length >= 2,
        );
      });

      await t.step("cluster set|get|unset", async () => {
        let r = await m2.shoal(["cluster", "set", "m3", "user.colour=blue", "scheduler.instance=all"]);
        assert.equal(r.code, 0, r.stderr);
        r = await m2.shoal(["cluster", "get", "m3", "user.colour"]);
        assert.equal(r.stdout, "blue\n");
        r = await m1.shoal(["cluster", "unset", "m3", "user.colour"]);
        assert.equal(r.code, 0, r.stderr);
        r = await m1.shoal(["cluster", "get", "m3", "user.colour"]);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, 'Error: The key "user.colour" does not exist on cluster member "m3"\n');
        r = await m1.shoal(["cluster", "set", "m3", "limits.cpu=2"]);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, 'Error: Invalid cluster configuration key "limits.cpu"\n');
      });

      await t.step("cluster role add|remove, with the client-side messages", async () => {
        let r = await m1.shoal(["cluster", "role", "add", "m2", "event-hub,ovn-chassis"]);
        assert.equal(r.code, 0, r.stderr);
        let roles = (await getMember(m1, "m2")).metadata.roles;
        assert.deepEqual(roles.slice(0, 2), ["event-hub", "ovn-chassis"]);
        assert.ok(roles.some((x) => x.startsWith("database")), `automatic role kept: ${roles}`);
        r = await m1.shoal(["cluster", "role", "add", "m2", "event-hub"]);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, 'Error: Member "m2" already has role "event-hub"\n');
        r = await m1.shoal(["cluster", "role", "add", "m2", "nope"]);
        assert.equal(r.stderr, 'Error: Invalid cluster role "nope"\n');
        r = await m1.shoal(["cluster", "role", "remove", "m2", "ovn-chassis"]);
        assert.equal(r.code, 0, r.stderr);
        roles = (await getMember(m1, "m2")).metadata.roles;
        assert.equal(roles[0], "event-hub");
        assert.ok(!roles.includes("ovn-chassis"));
        r = await m1.shoal(["cluster", "role", "remove", "m2", "ovn-chassis"]);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, 'Error: Member "m2" does not have role "ovn-chassis"\n');
        r = await m1.shoal(["cluster", "role", "remove", "m2", "event-hub"]);
        assert.equal(r.code, 0, r.stderr);
      });

      await t.step("cluster edit reads ClusterMemberPut YAML from stdin", async () => {
        const show = await m1.shoal(["cluster", "show", "m2"]);
        assert.equal(show.code, 0, show.stderr);
        const yaml =
          "roles: []\nfailure_domain: rack9\ndescription: edited\nconfig:\n  user.x: y\ngroups:\n- default\n";
        const r = await m1.shoal(["cluster", "edit", "m2"], { stdin: yaml });
        assert.equal(r.code, 0, r.stderr);
        const m = (await getMember(m1, "m2")).metadata;
        assert.equal(m.failure_domain, "rack9");
        assert.equal(m.description, "edited");
        assert.deepEqual(m.config, { "user.x": "y" });
        // rack2 has no member left: its row went.
        assert.equal(await sqlGlobal(m1, "SELECT name FROM nodes_failure_domains ORDER BY name"), "rack9");
        const bad = await m1.shoal(["cluster", "edit", "m2"], {
          stdin: "roles: [bogus]\ngroups: [default]\n",
        });
        assert.equal(bad.code, 1);
        assert.equal(bad.stderr, 'Error: Invalid cluster role "bogus"\n');
      });

      await t.step({
        name: "cluster edit on a terminal opens $EDITOR on the member's YAML",
        ignore: !HAVE_SCRIPT,
        fn: async () => {
          // script(1) gives the client a terminal; the "editor" rewrites one line in place.
          const onTty = (editor: string) =>
            run("script", ["-qec", `${SHOAL} cluster edit m2`, "/dev/null"], {
              env: { ...m1.env, EDITOR: editor },
              timeoutMs: 30_000,
            });
          let r = await onTty("sed -i 's/^description: .*/description: from the editor/'");
          assert.equal(r.code, 0, r.stdout);
          const m = (await getMember(m1, "m2")).metadata;
          assert.equal(m.description, "from the editor");
          assert.equal(m.failure_domain, "rack9", "the rest of the YAML went back unchanged");
          // A refused document: the error, the offer to edit again, and at end of input the error.
          r = await onTty("sed -i 's/^groups:$/groups: []/; /^- default$/d'");
          assert.equal(r.code, 1);
          assert.match(
            r.stdout,
            /Config parsing error: Cluster members need to belong to at least one group/,
          );
          assert.match(r.stdout, /Press enter to open the editor again or ctrl\+c to abort change/);
        },
      });

      await t.step("rename: the member shows its new name, also to itself; a taken name is 409", async () => {
        const taken = await m1.shoal(["cluster", "rename", "m3", "m1"]);
        assert.equal(taken.code, 1);
        assert.equal(taken.stderr, 'Error: A cluster member already exists with name "m1"\n');
        const st = await refusal(
          withClient(
            m1,
            (c) => c.request("POST", "/1.0/cluster/members/m3", { body: { server_name: "m2" } }),
          ),
        );
        assert.equal(st.status, 409);
        const r = await m1.shoal(["cluster", "rename", "m3", "m3b"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "Member m3 renamed to m3b\n");
        const names = (await clusterList(m1)).map((x) => x.name).sort();
        assert.deepEqual(names, ["m1", "m2", "m3b"]);
        // The renamed member finds its name by its address: it now answers as m3b.
        await waitFor("m3 to call itself m3b", async () => {
          const info = await withClient(m3, (c) => c.get<{ server_name: string }>("/1.0/cluster"));
          const server = await withClient(m3, (c) => c.get<{ environment: { server_name: string } }>("/1.0"));
          return info.server_name === "m3b" && server.environment.server_name === "m3b";
        });
        assert.equal((await getMember(m3, "m3b")).metadata.server_name, "m3b");
        // raft_nodes keeps reflecting the configuration: the new name reaches every member's copy.
        for (const m of [m1, m2, m3]) {
          await waitFor(`raft_nodes on ${m.name} to name m3b`, async () => {
            const r = await m.shoald([
              "sql",
              "local",
              "--format",
              "csv",
              "SELECT name FROM raft_nodes ORDER BY id",
            ]);
            return r.code === 0 && r.stdout.split("\n").includes("m3b") &&
              !r.stdout.split("\n").includes("m3");
          });
        }
        // What it creates carries its new name as location.
        const op = await withClient(
          m3,
          (c) =>
            c.request<{ id: string; location: string }>("POST", "/1.0/cluster/members", {
              body: { server_name: "mz" },
            }),
        );
        assert.equal(op.metadata.location, "m3b");
        await withClient(m3, (c) => c.request("DELETE", `/1.0/operations/${op.metadata.id}`));
        assert.equal((await refusal(getMember(m3, "m3"))).status, 404);
        await waitFor("a cluster-member-renamed event", () =>
          events.some((e) => {
            const md = e.metadata as { action?: string; source?: string; context?: { old_name?: string } };
            return md.action === "cluster-member-renamed" && md.source === "/1.0/cluster/members/m3b" &&
              md.context?.old_name === "m3";
          }));
        // Still a working member under its new name: it forwards writes and shows in lists.
        const set = await m3.shoal(["cluster", "set", "m3b", "user.renamed=yes"]);
        assert.equal(set.code, 0, set.stderr);
        assert.equal((await m3.shoal(["cluster", "get", "m3b", "user.renamed"])).stdout, "yes\n");
      });

      await t.step(
        "join tokens: list-tokens, revoke-token, a revoked or forged token is refused",
        async () => {
          let r = await m1.shoal(["cluster", "add", "m9"]);
          assert.equal(r.code, 0, r.stderr);
          const token = r.stdout.split("\n")[1]!;
          r = await m2.shoal(["cluster", "list-tokens", "--format", "csv"]);
          assert.match(r.stdout, /^m9,[A-Za-z0-9+/=]+,\d{4}\/\d\d\/\d\d \d\d:\d\d UTC$/m);
          r = await m1.shoal(["cluster", "revoke-token", "m9"]);
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout, "Cluster join token for local:m9 deleted\n");
          r = await m1.shoal(["cluster", "list-tokens", "--format", "csv"]);
          assert.doesNotMatch(r.stdout, /^m9,/m);
          r = await m1.shoal(["cluster", "revoke-token", "m9"]);
          assert.equal(r.code, 1);
          assert.equal(r.stderr, "Error: No cluster join token for member m9 on remote: local\n");

          const joiner = new Member(`${dir.path}/j1`, "j1");
          others.push(joiner);
          await joiner.start();
          const revoked = await joinWith(joiner, "m9", JOIN_FAILS, token);
          assert.equal(revoked.code, 1);
          assert.match(revoked.stderr, /No matching cluster join operation found/);
          // A token with the right shape and a secret nobody issued.
          const t2 = (await m1.shoal(["cluster", "add", "m8", "--quiet"])).stdout.trim();
          const decoded = JSON.parse(atob(t2));
          decoded.secret = "0".repeat(String(decoded.secret).length);
          const forged = await joinWith(joiner, "m8", JOIN_FAILS, btoa(JSON.stringify(decoded)));
          assert.equal(forged.code, 1);
          assert.match(forged.stderr, /No matching cluster join operation found/);
          await m1.shoal(["cluster", "revoke-token", "m8"]);
        },
      );

      await t.step("cluster.join_token_expiry: the token says when, and an expired one fails", async () => {
        let r = await m1.shoal(["config", "set", "cluster.join_token_expiry", "1S"]);
        assert.equal(r.code, 0, r.stderr);
        const before = Date.now();
        const token = (await m1.shoal(["cluster", "add", "m7", "--quiet"])).stdout.trim();
        const expiresAt = Date.parse(JSON.parse(atob(token)).expires_at);
        assert.ok(
          expiresAt >= before && expiresAt <= Date.now() + 1_500,
          `expires_at ${expiresAt - before} ms`,
        );
        await new Promise((res) => setTimeout(res, Math.max(0, expiresAt - Date.now()) + 500));
        const joiner = others[0]!;
        const late = await joinWith(joiner, "m7", JOIN_FAILS, token);
        assert.equal(late.code, 1);
        assert.match(late.stderr, /Token has expired/);
        r = await m1.shoal(["config", "unset", "cluster.join_token_expiry"]);
        assert.equal(r.code, 0, r.stderr);
        const later = (await m1.shoal(["cluster", "add", "m6", "--quiet"])).stdout.trim();
        const hours = (Date.parse(JSON.parse(atob(later)).expires_at) - Date.now()) / 3_600_000;
        assert.ok(hours > 2.9 && hours <= 3, `default expiry is 3H, got ${hours} h`);
        await m1.shoal(["cluster", "revoke-token", "m6"]);
      });

      await t.step("a refused joiner joins later; remove --force asks first, --yes does not", async () => {
        const j1 = others[0]!;
        const token = (await m1.shoal(["cluster", "add", "m5", "--quiet"])).stdout.trim();
        const ok = await joinWith(j1, "m5", JOIN_FAILS, token);
        assert.equal(ok.code, 0, ok.stderr);
        await waitFor(
          "m5 online",
          async () => (await clusterList(m2)).some((x) => x.name === "m5" && x.state === "ONLINE"),
        );
        await j1.kill();
        // What it held is purged with it: --force does not ask a member that is gone.
        await sqlGlobal(
          m1,
          "INSERT INTO instances (node_id, name, architecture, type, creation_date, project_id) SELECT id, 'lost', 2, 0, '2026-01-01T00:00:00Z', 1 FROM nodes WHERE name = 'm5'",
        );
        let r = await m1.shoal(["cluster", "remove", "m5", "--force"], { stdin: "no\n" });
        assert.equal(r.code, 1);
        assert.equal(r.stdout, "Are you really sure you want to force removing m5? (yes/no): ");
        assert.equal(r.stderr, "Error: User aborted delete operation\n");
        assert.ok((await clusterList(m1)).some((x) => x.name === "m5"));
        r = await m1.shoal(["cluster", "remove", "m5", "--force", "--yes"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "Member m5 removed\n");
        assert.equal(await sqlGlobal(m1, "SELECT count(*) FROM instances WHERE name = 'lost'"), "0");
        await waitFor(
          "m5 gone from the list",
          async () => !(await clusterList(m2)).some((x) => x.name === "m5"),
        );
      });

      await t.step("remove is refused while the member holds instances, then removes it", async () => {
        // Instance rows placed on m3b, as `shoal launch --target m3b` records them.
        for (const name of ["b", "a"]) {
          await sqlGlobal(
            m1,
            `INSERT INTO instances (node_id, name, architecture, type, creation_date, project_id) SELECT id, '${name}', 2, 0, '2026-01-01T00:00:00Z', 1 FROM nodes WHERE name = 'm3b'`,
          );
        }
        // Another member's instance is answered by its member, through any member.
        const seen = await withClient(m2, (c) => c.get<{ location: string }>("/1.0/instances/a"));
        assert.equal(seen.location, "m3b");
        const placed = await refusal(
          withClient(m2, (c) =>
            c.request("POST", "/1.0/instances?target=nosuch", {
              body: { name: "t1", source: { type: "none" } },
            })),
        );
        assert.equal(placed.status, 404);
        assert.equal(placed.message, 'Failed to get cluster member "nosuch": Cluster member not found');
        let r = await m2.shoal(["cluster", "remove", "m3b"]);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, "Error: Node still has the following instances: a, b\n");
        assert.ok((await clusterList(m1)).some((x) => x.name === "m3b"));
        await sqlGlobal(m1, "DELETE FROM instances WHERE name IN ('a', 'b')");
        m3.expectExit();
        r = await m2.shoal(["cluster", "remove", "m3b"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "Member m3b removed\n");
        await waitFor("m3b gone from the list", async () => {
          const rows = await clusterList(m1);
          return rows.length === 2 && !rows.some((x) => x.name === "m3b");
        });
      });

      await t.step("cluster enable turns a standalone server into a one-member cluster", async () => {
        const s = new Member(`${dir.path}/s1`, "s1");
        others.push(s);
        await s.start();
        let r = await s.shoal(["cluster", "list"]);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, "Error: LXD server is not part of a cluster\n");
        r = await s.shoal(["cluster", "enable", "s1"]);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, "Error: This LXD server is not available on the network\n");
        r = await s.shoal(["config", "set", "core.https_address", `${STANDALONE}:8443`]);
        assert.equal(r.code, 0, r.stderr);
        r = await s.shoal(["cluster", "enable", "s1"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "Clustering enabled\n");
        const rows = await waitFor("s1 leading its cluster", async () => {
          const rows = await clusterList(s);
          return rows.length === 1 && rows[0]!.roles.includes("database-leader") ? rows : null;
        });
        assert.equal(rows[0]!.name, "s1");
        assert.equal(rows[0]!.url, `https://${STANDALONE}:8443`);
        r = await s.shoal(["cluster", "enable", "s1"]);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, "Error: This LXD server is already clustered\n");
      });
    } finally {
      watcher.close();
      for (const m of [...others, ...ms]) await m.stop();
    }
  },
});
