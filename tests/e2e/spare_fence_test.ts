/**
 * A spare fences itself too: four real members on 127.0.0.201-204 (cluster.max_standby=0, so
 * three voters and m4 a spare, which holds no copy of the database), a real container on the
 * spare. With every voter frozen (SIGSTOP) the spare reaches no leader: within its fence time it
 * stops the container, knowing which are its own from what it fetched ahead while it could (it
 * cannot ask then); the voters back, it starts it again. Its fence watchdog (the loop that kills
 * containers if the daemon dies) is held still meanwhile, so what is seen is the daemon's doing.
 */
import assert from "node:assert/strict";
import { clusterList, formCluster } from "../helpers/cluster.ts";
import { type Member, run, tempDir, waitFor } from "../helpers/member.ts";
import { busyboxImage, PRESEED, stopContainers } from "../compat/instances_helpers.ts";

const ADDRESSES = ["127.0.0.201", "127.0.0.202", "127.0.0.203", "127.0.0.204"];
const FENCE_S = 2;

/** c's state as liblxc on member m tells it (RUNNING, STOPPED). */
async function lxcState(m: Member, c: string): Promise<string> {
  const r = await run("lxc-info", ["-P", `${m.dir}/containers`, "-n", c, "-s"]);
  return /State:\s+(\S+)/.exec(r.stdout)?.[1] ?? "";
}

Deno.test("a spare that reaches no leader stops its containers within its fence time, and starts them again after", async () => {
  await using tmp = await tempDir("spare-fence");
  let members: Member[] = [];
  const frozen: number[] = [];
  try {
    members = await formCluster(tmp.path, ADDRESSES, {
      preseed: PRESEED,
      extraConfig: { "cluster.max_standby": "0" },
    });
    const [m1, , , m4] = members as [Member, Member, Member, Member];
    const ok = async (args: string[]) => (await m1.must(args)).stdout;
    await waitFor("three voters and m4 a spare", async () => {
      const rows = await clusterList(m1);
      return rows.filter((r) => r.roles.includes("database")).length === 3 &&
        rows.find((r) => r.name === "m4")?.roles.length === 0;
    }, 30_000);
    await ok(["config", "set", `cluster.fence_time=${FENCE_S}`, "cluster.healing_threshold=60"]);
    await ok(["image", "import", await busyboxImage(tmp.path), "--alias", "bb"]);
    await ok(["launch", "bb", "c1", "--target", "m4"]);
    await waitFor("c1 running on m4", async () => await lxcState(m4, "c1") === "RUNNING", 20_000);
    // The watchdog arms with the fence time, from the spare's config (a stale read of the leader's).
    const watchdog = Number(
      await waitFor("m4's fence watchdog armed", async () => {
        try {
          return (await Deno.readTextFile(`${m4.dir}/fence.pid`)).trim() || null;
        } catch {
          return null;
        }
      }, 10_000),
    );
    Deno.kill(watchdog, "SIGSTOP");
    frozen.push(watchdog);

    for (const m of members.slice(0, 3)) {
      Deno.kill(m.process!.pid, "SIGSTOP");
      frozen.push(m.process!.pid);
    }
    const t0 = performance.now();
    await waitFor("c1 stopped on m4", async () => await lxcState(m4, "c1") === "STOPPED", 20_000, 100);
    const after = (performance.now() - t0) / 1000;
    const log = await m4.logTail(200);
    assert.match(log, /No quorum of database voters within the fence time/);
    assert.doesNotMatch(log, /Fencing does not know this member's instances/);
    // The probe is every second and waits 2 s for an answer (config.ts's margin counts on it).
    assert.ok(after < FENCE_S + 4, `fenced ${after.toFixed(1)} s after the voters froze`);
    console.log(
      `spare fenced: c1 stopped ${after.toFixed(1)} s after the voters froze (fence time ${FENCE_S} s)`,
    );

    for (const pid of frozen.splice(0)) Deno.kill(pid, "SIGCONT");
    await waitFor(
      "m4 hears the cluster again",
      async () => /fencing lifted/.test(await m4.logTail(200)),
      30_000,
    );
    await waitFor("c1 started again on m4", async () => await lxcState(m4, "c1") === "RUNNING", 30_000);
    assert.equal(
      (await ok(["list", "--format", "csv", "-c", "nsL"])).split("\n").find((l) => l.startsWith("c1,")),
      "c1,RUNNING,m4",
    );
  } finally {
    for (const pid of frozen) {
      try {
        Deno.kill(pid, "SIGCONT");
      } catch { /* gone */ }
    }
    for (const m of members) await stopContainers(m.dir);
    await Promise.all(members.map((m) => m.stop()));
  }
});
