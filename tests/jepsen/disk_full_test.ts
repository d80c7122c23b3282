/**
 * A member whose disk fills up (issue 16 §6), with real members in the fault harness's network
 * namespaces (their addresses exist only there, so this file shares none with other files):
 * it stops serving writes with a 503 that says why, the others go on, it never corrupts its
 * log or database, and it catches up by itself once space returns.
 */
import assert from "node:assert/strict";
import { run, SHOALD, waitFor } from "../helpers/member.ts";
import { uniquePrefix } from "../helpers/netns.ts";
import { JepsenCluster, type Slot } from "./cluster.ts";

async function call(s: Slot, method: string, path: string, body?: unknown) {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: s.member!.socket } });
  try {
    const r = await fetch(`http://shoal${path}`, {
      method,
      client,
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? {} : { "content-type": "application/json" },
      signal: AbortSignal.timeout(10_000),
    });
    return { status: r.status, body: await r.json() as { error: string; metadata: unknown } };
  } finally {
    client.close();
  }
}

const patch = (s: Slot, key: string, value: string) => call(s, "PATCH", "/1.0", { config: { [key]: value } });
const config = async (s: Slot) =>
  ((await call(s, "GET", "/1.0")).body.metadata as { config: Record<string, string> }).config;

/** The victim's line in GET /1.0/cluster/members as member `s` shows it. */
async function memberLine(s: Slot, victim: Slot) {
  const r = await call(s, "GET", "/1.0/cluster/members?recursion=1");
  assert.equal(r.status, 200, r.body.error);
  const m = (r.body.metadata as { url: string; status: string; message: string }[])
    .find((x) => x.url === `https://${victim.address}:8443`);
  assert.ok(m, `no line for ${victim.address}`);
  return m;
}

async function sql(s: Slot, db: "local" | "global", query: string): Promise<string> {
  const r = await run(SHOALD, ["sql", db, query, "--format", "csv"], { env: s.member!.env });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

Deno.test("a member with a full disk refuses writes saying why, corrupts nothing and catches up when space returns", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shoal-diskfull-" });
  const crashes: string[] = [];
  const cluster = new JepsenCluster({
    dir,
    members: 3,
    prefix: uniquePrefix("df"),
    shim: null,
    log: () => {},
    onCrash: (name, how) => crashes.push(`${name}: ${how}`),
  });
  try {
    await cluster.create();
    // The leader makes joiners voters one at a time after they join. A disk filled between the
    // two promotions stops the second voter, and two voters without it are no quorum: every
    // write then hung, the third promotion too (under load the window was wide enough that
    // 3 of 10 runs failed so). Three voters first, then the fault.
    await waitFor(
      "three voters, all online",
      async () => {
        const r = await call(cluster.occupied[0]!, "GET", "/1.0/cluster/members?recursion=1");
        const ms = r.body.metadata as { roles: string[]; status: string }[] | null;
        return ms?.length === 3 && ms.every((m) => m.roles.includes("database") && m.status === "Online");
      },
      60_000,
      200,
    );
    const leader = await waitFor("a leader", () => cluster.leader(), 30_000, 200);
    const [victim, other] = cluster.occupied.filter((s) => s !== leader) as [Slot, Slot];
    assert.equal((await patch(victim, "user.before", "1")).status, 200);

    await cluster.fillDisk(victim);
    // Writes through the others make the leader append to it; it fails to write them and stops.
    let n = 0;
    const refusal = await waitFor(
      "the full member to refuse writes",
      async () => {
        const t0 = Date.now();
        const o = await patch(other, "user.during", String(++n)).catch((e) => {
          throw new Error(`PATCH through the other member, after ${Date.now() - t0} ms: ${e}`);
        });
        assert.equal(o.status, 200);
        const t1 = Date.now();
        const r = await patch(victim, "user.via-full", String(n)).catch((e) => {
          throw new Error(`PATCH through the full member, after ${Date.now() - t1} ms: ${e}`);
        });
        return r.status === 503 ? r.body.error : null;
      },
      30_000,
      200,
    );
    assert.match(refusal, /cannot write its database.*(disk is full|No space)/);
    assert.match(refusal, /once space is freed/);
    // Every member's `cluster list` says why, the full one's own included; it answers
    // heartbeats, so it stays Online (LXD has no other state for it).
    for (const s of [other, leader, victim]) {
      let seen = "";
      const line = await waitFor(
        `member ${s.index} (${
          s === other ? "other" : s === leader ? "leader" : "victim"
        }) to show the full disk in its list`,
        async () => {
          const m = await memberLine(s, victim);
          seen = JSON.stringify(m);
          return /disk full/.test(m.message) ? m : null;
        },
        30_000,
        200,
      ).catch((e) => {
        throw new Error(`${e.message}; last seen ${seen}`);
      });
      assert.equal(line.status, "Online");
      assert.match(line.message, /Database disk full since .*: free space in /);
    }
    // The others keep a quorum and go on.
    for (let i = 0; i < 5; i++) assert.equal((await patch(other, "user.during", `more-${i}`)).status, 200);
    const last = `last-${Date.now()}`;
    assert.equal((await patch(leader, "user.during", last)).status, 200);

    await cluster.freeDisk(victim);
    await waitFor(
      "the member to catch up",
      async () => (await config(victim))["user.during"] === last,
      30_000,
      200,
    );
    assert.equal((await patch(victim, "user.after", "1")).status, 200);
    for (const s of [other, leader, victim]) {
      await waitFor(
        `member ${s.index} to show the member fully operational again`,
        async () => (await memberLine(s, victim)).message === "Fully operational",
        30_000,
        200,
      );
    }
    assert.equal((await config(other))["user.after"], "1");

    // Nothing corrupt: both databases pass SQLite's check, and after a kill -9 and a restart on
    // its own disk the member holds what the others hold.
    assert.match(await sql(victim, "local", "PRAGMA integrity_check"), /^ok/m);
    assert.match(await sql(victim, "global", "PRAGMA integrity_check"), /^ok/m);
    await cluster.kill(victim);
    await cluster.restart(victim);
    const q = "SELECT key, value FROM config WHERE key LIKE 'user.%' ORDER BY key";
    await waitFor(
      "the same config on both",
      async () => await sql(victim, "global", q) === await sql(other, "global", q),
      30_000,
      200,
    );
    assert.deepEqual(crashes, []);
  } catch (e) {
    for (const s of cluster.occupied) {
      const log = await Deno.readTextFile(`${s.member!.dir}/logs/shoald.log`).catch(() => "");
      console.error(
        `--- slot ${s.index} (${s.member!.name}) log tail:\n${log.split("\n").slice(-40).join("\n")}`,
      );
    }
    throw e;
  } finally {
    await cluster.dispose();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
