/**
 * Any member serves any instance: three real members on 127.0.0.131-133 with a dir pool, the
 * busybox image imported through m1 only, real containers. Every request goes through a member
 * that does not hold what it is about: ?target= views, launch with and without a target,
 * placement, cluster groups, exec and files through a non-owner, the whole cluster's list.
 */
import assert from "node:assert/strict";
import { Client } from "../../lib/client/mod.ts";
import { StatusError } from "../../lib/util/mod.ts";
import { formCluster } from "../helpers/cluster.ts";
import { type Member, tempDir } from "../helpers/member.ts";
import { PRESEED, stopContainers } from "../compat/instances_helpers.ts";

const ADDRESSES = ["127.0.0.131", "127.0.0.132", "127.0.0.133"];

async function withClient<T>(m: Member, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = m.client();
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** The StatusError a request fails with (fails the test if it succeeds). */
async function refusal(p: Promise<unknown>): Promise<StatusError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof StatusError) return e;
    throw e;
  }
  throw new Error("the request was expected to fail but succeeded");
}

Deno.test("any member serves any instance", async (t) => {
  await using tmp = await tempDir("any-member");
  let members: Member[] = [];
  try {
    members = await formCluster(tmp.path, ADDRESSES, { preseed: PRESEED });
    const [m1, _m2, m3] = members as [Member, Member, Member];

    await t.step("?target= views are answered by the member named, with the caller's trust", async () => {
      const own = await withClient(m1, (c) => c.get<{ config: Record<string, string> }>("/1.0?target=m2"));
      assert.equal(own.config["core.https_address"], `${ADDRESSES[1]}:8443`);
      const res = await withClient(
        m1,
        (c) => c.get<{ memory: { total: number } }>("/1.0/resources?target=m3"),
      );
      assert.ok(res.memory.total > 0);
      const pool = await withClient(
        m1,
        (c) => c.get<{ config: Record<string, string> }>("/1.0/storage-pools/default?target=m3"),
      );
      assert.equal(pool.config.source, `${m3.dir}/storage-pools/default`);
      const space = await withClient(
        m1,
        (c) => c.get<{ space: { total: number } }>("/1.0/storage-pools/default/resources?target=m2"),
      );
      assert.ok(space.space.total > 0);
      const unknown = await refusal(withClient(m1, (c) => c.get("/1.0/resources?target=nosuch")));
      assert.equal(unknown.status, 404);
      assert.equal(unknown.message, 'Failed to get cluster member "nosuch": Cluster member not found');
      // An untrusted client asking through m1 stays untrusted on m2: the member's trust is not its.
      const anon = new Client({
        kind: "https",
        url: `https://${ADDRESSES[0]}:8443`,
        serverCert: await Deno.readTextFile(`${m1.dir}/cluster.crt`),
      });
      try {
        const seen = await anon.get<{ auth: string; config?: unknown }>("/1.0?target=m2");
        assert.equal(seen.auth, "untrusted");
        assert.equal(seen.config, undefined);
        const denied = await refusal(anon.get("/1.0/resources?target=m2"));
        assert.equal(denied.status, 403);
      } finally {
        anon.close();
      }
    });
  } finally {
    for (const m of members) await stopContainers(m.dir);
    for (const m of members.reverse()) await m.stop();
  }
});
