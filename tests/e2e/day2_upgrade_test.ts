/**
 * A rolling upgrade of three real members with LXD's test knob (LXD_ARTIFICIALLY_BUMP_API_EXTENSIONS):
 * each upgraded member waits in the Blocked state (shown by `lxc cluster list` on the others,
 * its API refused, waitready not returning) until the last one is upgraded, then resumes in the
 * same process; the doctor names the members still to upgrade, and reports healthy after. A
 * member older than the cluster is refused with both versions named. Addresses 127.0.0.150-152.
 */
import assert from "node:assert/strict";
import { clusterList, formCluster } from "../helpers/cluster.ts";
import { Member, run, SHOALD, tempDir, waitFor } from "../helpers/member.ts";

const ADDRESSES = ["127.0.0.150", "127.0.0.151", "127.0.0.152"];
const BUMP = { LXD_ARTIFICIALLY_BUMP_API_EXTENSIONS: "1" };

/** Starts a member's daemon without waiting for it to be ready (a blocked member never is). */
function launch(m: Member): void {
  m.process = new Deno.Command("sh", {
    args: ["-c", `exec "$0" --debug >>"${m.dir}.log" 2>&1`, SHOALD],
    env: m.env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function state(via: Member, name: string): Promise<{ state: string; message: string } | undefined> {
  return (await clusterList(via)).find((r) => r.name === name);
}

async function stopGracefully(m: Member): Promise<void> {
  m.expectExit();
  const r = await m.shoald(["shutdown", "--timeout", "25"]);
  assert.equal(r.code, 0, `shoald shutdown of ${m.name}: ${r.stderr}`);
  await m.process?.status;
  m.process = null;
}

Deno.test("a rolling upgrade blocks the upgraded members until the last one, then they resume", async () => {
  await using tmp = await tempDir("day2-upgrade");
  const [m1, m2, m3] = await formCluster(tmp.path, ADDRESSES);
  const up = (m: Member) => new Member(m.dir, m.name, BUMP);
  const members: Member[] = [m1!, m2!, m3!];
  try {
    assert.equal((await m1!.shoal(["config", "set", "user.marker", "v1"])).code, 0);

    // m3 upgraded: Blocked, with the reason; its API refuses; m1 still writes.
    await stopGracefully(m3!);
    const u3 = up(m3!);
    members[2] = u3;
    launch(u3);
    const s3 = await waitFor("m3 BLOCKED on m1", async () => {
      const s = await state(m1!, "m3");
      return s?.state === "BLOCKED" && s;
    }, 30_000);
    assert.match(s3.message, /upgraded/);
    assert.match(s3.message, /m1 .*m2|m2 .*m1/);
    const refused = await u3.shoal(["config", "get", "user.marker"]);
    assert.notEqual(refused.code, 0, "a blocked member serves the API");
    assert.match(refused.stderr, /upgraded/);
    const wait = await run(SHOALD, ["waitready", "--timeout", "1"], { env: u3.env });
    assert.notEqual(wait.code, 0, "waitready returned on a blocked member");
    assert.equal((await m1!.shoal(["config", "set", "user.during", "1"])).code, 0);

    // The doctor names who is left to upgrade.
    const doc = await m2!.shoal(["cluster", "doctor", "--format", "json"]);
    assert.equal(doc.code, 1, doc.stdout + doc.stderr);
    const report = JSON.parse(doc.stdout);
    const p = report.problems.find((x: { kind: string }) => x.kind === "upgrade-blocked");
    assert.ok(p, doc.stdout);
    assert.match(p.fix.join("\n"), /upgrade shoal on m1/);
    assert.match(p.fix.join("\n"), /upgrade shoal on m2/);

    // m1 upgraded: both wait for m2.
    await stopGracefully(m1!);
    const u1 = up(m1!);
    members[0] = u1;
    launch(u1);
    await waitFor("m1 and m3 BLOCKED on m2", async () => {
      return (await state(m2!, "m1"))?.state === "BLOCKED" && (await state(m2!, "m3"))?.state === "BLOCKED";
    }, 30_000);

    // m2, the last, upgraded: the blocked ones resume in the same processes.
    await stopGracefully(m2!);
    const u2 = up(m2!);
    members[1] = u2;
    await u2.start();
    const pids = [u1.process!.pid, u3.process!.pid];
    await waitFor("every member ONLINE, m1 and m3 serving", async () => {
      const rows = await clusterList(u2);
      if (rows.length !== 3 || rows.some((r) => r.state !== "ONLINE")) return false;
      for (const m of [u1, u3]) {
        const r = await m.shoal(["config", "get", "user.marker"]);
        if (r.stdout.trim() !== "v1") return false;
      }
      return true;
    }, 30_000);
    assert.deepEqual([u1.process!.pid, u3.process!.pid], pids, "a blocked member was restarted");
    assert.equal((await run(SHOALD, ["waitready", "--timeout", "5"], { env: u3.env })).code, 0);

    // Each member learns the others' liveness from the leader's heartbeats: right after the last
    // restart one member's view can still lag the list above by a heartbeat or two.
    const healthy = await waitFor(
      "the doctor to find the cluster healthy from m3",
      async () => {
        const r = await u3.shoal(["cluster", "doctor"]);
        return r.code === 0 ? r : false;
      },
      30_000,
      500,
    );
    assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);
    assert.equal(healthy.stdout.trim().split("\n").length, 1, healthy.stdout);
    assert.match(healthy.stdout, /healthy/);

    // A member older than every other one is refused, naming both versions.
    await stopGracefully(u3);
    const old = new Member(m3!.dir, "m3");
    members[2] = old;
    const r = await run(SHOALD, [], { env: old.env, timeoutMs: 30_000 });
    assert.notEqual(r.code, 0, "an old member started");
    assert.match(r.stderr, /behind the cluster/);
    assert.match(r.stderr, /\d+ API extensions/);
  } finally {
    for (const m of members) await m.stop();
  }
});
