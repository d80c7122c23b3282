/**
 * The replicated global database with real daemons on 127.0.0.31-39: bootstrap and join by
 * token, a write on one member read on another, and the faults of issue 4 (kill -9 of the
 * leader under load, restart and catch-up also from a snapshot, kill -9 while applying, a disk
 * that fails).
 */
import assert from "node:assert/strict";
import { clusterList, formCluster, leaderOf } from "../helpers/cluster.ts";
import { type Member, run, tempDir, waitFor } from "../helpers/member.ts";

const ADDR = ["127.0.0.31", "127.0.0.32", "127.0.0.33"];

async function configGet(m: Member, key: string): Promise<string> {
  const r = await m.shoal(["config", "get", key]);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

/** Runs SQL on the global database through m's socket (as `shoald sql global` does). */
async function sql(m: Member, query: string): Promise<{ rows: unknown[][] }[]> {
  const c = m.client();
  try {
    return (await c.request<{ results: { rows: unknown[][] }[] }>("POST", "/internal/sql", {
      body: { database: "global", query },
    })).metadata.results;
  } finally {
    c.close();
  }
}

/** Increments user.counter through Raft as one statement; resolves true when acknowledged. */
async function increment(m: Member): Promise<boolean> {
  try {
    await sql(m, "UPDATE config SET value = CAST(value AS INTEGER) + 1 WHERE key = 'user.counter'");
    return true;
  } catch {
    return false;
  }
}

async function counter(m: Member): Promise<number> {
  return Number((await sql(m, "SELECT value FROM config WHERE key = 'user.counter'"))[0]!.rows[0]![0]);
}

Deno.test({
  name: "three members replicate the global database and survive faults",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using dir = await tempDir("replication");
    const env = { SHOAL_RAFT_SNAPSHOT_EVERY: "50", SHOAL_RAFT_KEEP_ENTRIES: "10" };
    const ms = await formCluster(dir.path, ADDR, { env });
    try {
      await t.step(
        "cluster list shows three online members, one leader, three database members",
        async () => {
          const rows = await waitFor("3 voters", async () => {
            const rows = await clusterList(ms[0]!);
            const db = rows.filter((r) => r.roles.includes("database"));
            return rows.length === 3 && db.length === 3 && rows.every((r) => r.state === "ONLINE")
              ? rows
              : null;
          }, 30_000);
          assert.equal(rows.filter((r) => r.roles.includes("database-leader")).length, 1);
          assert.deepEqual(rows.map((r) => r.name).sort(), ["m1", "m2", "m3"]);
          assert.equal(rows.find((r) => r.name === "m2")!.url, `https://${ADDR[1]}:8443`);
          // The local raft_nodes table reflects the configuration on every member: ids, addresses,
          // roles (0: voter), and names (learnt from the global database by the next heartbeat).
          const want = ADDR.map((a, i) => `${i + 1},${a}:8443,0,m${i + 1}`).join("\n");
          for (const m of ms) {
            await waitFor(`raft_nodes on ${m.name}`, async () => {
              const r = await m.shoald([
                "sql",
                "local",
                "--format",
                "csv",
                "SELECT id, address, role, name FROM raft_nodes ORDER BY id",
              ]);
              return r.code === 0 && r.stdout.trim() === want ? true : null;
            }, 10_000);
          }
        },
      );

      await t.step("a write on m3 is read on m1 right after", async () => {
        const w = await ms[2]!.shoal(["config", "set", "user.k1", "v1"]);
        assert.equal(w.code, 0, w.stderr);
        assert.equal(await configGet(ms[0]!, "user.k1"), "v1");
        assert.equal(await configGet(ms[1]!, "user.k1"), "v1");
      });

      await t.step("shoald sql global writes through Raft and every member sees them", async () => {
        const w = await ms[1]!.shoald([
          "sql",
          "global",
          "INSERT INTO config (key, value) VALUES ('user.counter', '0')",
        ]);
        assert.equal(w.code, 0, w.stderr);
        for (const m of ms) assert.equal(await counter(m), 0);
        const bad = await ms[0]!.shoald(["sql", "global", "INSERT INTO nosuch VALUES (1)"]);
        assert.notEqual(bad.code, 0);
        assert.match(bad.stderr, /no such table: nosuch/);
      });

      await t.step(
        "kill -9 of the leader under a write load: a new leader serves, no acknowledged write lost",
        async () => {
          const leader = await leaderOf(ms, ms[0]!);
          const others = ms.filter((m) => m !== leader);
          let acked = 0;
          let attempted = 0;
          let stop = false;
          const load = (async () => {
            while (!stop) {
              attempted++;
              if (await increment(others[acked % 2]!)) acked++;
            }
          })();
          await waitFor("some writes", () => acked >= 5, 30_000);
          await leader.kill();
          const before = acked;
          await waitFor("writes after the kill", () => acked >= before + 5, 30_000);
          stop = true;
          await load;
          const c = await counter(others[0]!);
          assert.ok(c >= acked, `counter ${c} < acknowledged ${acked}`);
          assert.ok(c <= attempted, `counter ${c} > attempted ${attempted}: an entry was applied twice`);
          const newLeader = await leaderOf(ms, others[0]!);
          assert.notEqual(newLeader.name, leader.name);

          // The killed member restarts and catches up (from a snapshot: the log was compacted).
          for (let i = 0; i < 60; i++) assert.ok(await increment(others[0]!));
          await leader.start();
          const want = await counter(others[0]!);
          await waitFor("restarted member caught up", async () => (await counter(leader)) === want, 30_000);
          const all = await Promise.all(ms.map(counter));
          assert.ok(all.every((x) => x === want), `counters differ: ${all}`);
          await waitFor(
            "all online again",
            async () => (await clusterList(ms[0]!)).every((r) => r.state === "ONLINE"),
            30_000,
          );
        },
      );

      await t.step(
        "kill -9 while entries are being applied: nothing lost, nothing applied twice",
        async () => {
          const victim = ms.find((m) => m.name === "m2")!;
          let acked = 0;
          let attempted = 0;
          const writers = [0, 1, 2].map(async () => {
            for (let i = 0; i < 15; i++) {
              attempted++;
              if (await increment(ms[0]!.name === victim.name ? ms[2]! : ms[0]!)) acked++;
            }
          });
          await waitFor("writes in flight", () => acked >= 3, 30_000);
          await victim.kill();
          await Promise.all(writers);
          await victim.start();
          const want = await counter(ms[0]!);
          assert.ok(want >= acked && want <= attempted + 100, `counter ${want}, acked ${acked}`);
          await waitFor("victim caught up", async () => (await counter(victim)) === want, 30_000);
        },
      );
    } finally {
      await Promise.all(ms.map((m) => m.stop()));
    }
  },
});

Deno.test({
  name: "a member whose disk fails stops serving the database rather than diverging",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using dir = await tempDir("diskfail");
    const ADDR2 = ["127.0.0.34", "127.0.0.35", "127.0.0.36"];
    // m3's state lives on a small tmpfs that the test fills up.
    const m3dir = `${dir.path}/m3`;
    await Deno.mkdir(m3dir, { recursive: true });
    const mnt = await run("mount", ["-t", "tmpfs", "-o", "size=40m", "tmpfs", m3dir]);
    assert.equal(mnt.code, 0, `mount tmpfs: ${mnt.stderr}`);
    const ms = await formCluster(dir.path, ADDR2);
    try {
      const m3 = ms[2]!;
      await waitFor(
        "m3 has the data",
        async () => (await configGet(m3, "cluster.max_voters").catch(() => "x")) !== "x",
      );
      const fill = await run("sh", ["-c", `dd if=/dev/zero of=${m3dir}/fill bs=1M 2>/dev/null; sync; true`]);
      assert.equal(fill.code, 0);
      // Writes that reach m3's log now fail there; the others keep a quorum and carry on.
      const payload = "x".repeat(4000);
      const c = ms[0]!.client();
      try {
        for (let i = 0; i < 40; i++) {
          await c.request("PATCH", "/1.0", { body: { config: { [`user.fill${i}`]: payload } } });
        }
      } finally {
        c.close();
      }
      await waitFor("m3 refuses database work", async () => {
        const r = await m3.shoal(["config", "get", "user.fill39"]);
        return r.code !== 0 && /database failed and stopped|disk|full/i.test(r.stderr) ? r : null;
      }, 30_000);
      // It did not diverge: what it still has is a prefix of what the others agree on.
      assert.equal(await configGet(ms[1]!, "user.fill39"), payload);
      const log = await Deno.readTextFile(`${m3dir}.log`);
      assert.match(log, /no longer serves the database/);
    } finally {
      await Promise.all(ms.map((m) => m.stop()));
      await run("rm", ["-f", `${m3dir}/fill`]);
    }
  },
});
