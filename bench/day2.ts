/**
 * Day-2 figures with real members (127.0.0.150-155):
 * - resume: three members upgraded one by one with LXD_ARTIFICIALLY_BUMP_API_EXTENSIONS; from the
 *   moment the last one reports ready (its version is recorded) until both blocked members
 *   answer GET /1.0 again (polled every 5 ms on their unix sockets). Goal: one heartbeat, <= 1 s.
 *   Floor from the same run: one write through a follower (`PUT /1.0`, forwarded, replicated,
 *   applied here), the least a change of another member's row can take to be seen.
 * - recovery: 2 of 3 voters killed; from the start of `shoald cluster recover-from-quorum-loss
 *   --quiet` on the survivor (its daemon stopped) to the first write it serves after its start.
 *   Floor from the same run: a plain restart of the same survivor (start to first write) once
 *   the cluster is a one-voter cluster again.
 * LXD is not installed on these machines: no side-by-side figure (bench/lxd.ts says why when it
 * is missing). With a few runs each, p99 is the largest sample.
 *
 *   deno run -A bench/day2.ts [--runs 3]
 * @module
 */
import { Client } from "../lib/client/mod.ts";
import { formCluster } from "../tests/helpers/cluster.ts";
import { Member, run, SHOALD, tempDir, waitFor } from "../tests/helpers/member.ts";
import { formatStats, measure, percentiles } from "./floors.ts";

const runs = Number(Deno.args[Deno.args.indexOf("--runs") + 1] || 3);

function launch(m: Member): void {
  m.process = new Deno.Command("sh", {
    args: ["-c", `exec "$0" >>"${m.dir}.log" 2>&1`, SHOALD],
    env: m.env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function shutdown(m: Member): Promise<void> {
  m.expectExit();
  const r = await m.shoald(["shutdown", "--timeout", "25"]);
  if (r.code !== 0) throw new Error(`shutdown of ${m.name}: ${r.stderr}`);
  await m.process?.status;
  m.process = null;
}

async function serves(m: Member): Promise<boolean> {
  const c = new Client({ kind: "unix", path: m.socket });
  try {
    await c.get("/1.0");
    return true;
  } catch {
    return false;
  } finally {
    c.close();
  }
}

const quiet = { debug: false };

async function resumeRun(dir: string, bump: number): Promise<{ resume: number; floor: number[] }> {
  const base = await formCluster(dir, ["127.0.0.150", "127.0.0.151", "127.0.0.152"]);
  const env = { LXD_ARTIFICIALLY_BUMP_API_EXTENSIONS: String(bump) };
  const up = (m: Member) => new Member(m.dir, m.name, env, [], quiet);
  const [m1, m2, m3] = base as [Member, Member, Member];
  const live: Member[] = [...base];
  try {
    // Floor: writes through the follower m2 (forwarded to the leader, applied on m2).
    const c = new Client({ kind: "unix", path: m2.socket });
    let i = 0;
    const floor = await measure(
      20,
      () => c.request("PATCH", "/1.0", { body: { config: { "user.f": String(i++) } } }),
    );
    c.close();
    await shutdown(m3);
    const u3 = live[2] = up(m3);
    launch(u3);
    await shutdown(m1);
    const u1 = live[0] = up(m1);
    launch(u1);
    await waitFor("m1 and m3 blocked", async () => !(await serves(u1)) && !(await serves(u3)), 30_000);
    await shutdown(m2);
    const u2 = live[1] = up(m2);
    await u2.start();
    const t0 = performance.now();
    await waitFor("m1 and m3 serving", async () => (await serves(u1)) && (await serves(u3)), 30_000, 5);
    return { resume: performance.now() - t0, floor: [floor.median] };
  } finally {
    for (const m of live) await m.stop();
  }
}

async function recoveryRun(dir: string): Promise<{ recover: number; restart: number }> {
  const [m1, m2, m3] = await formCluster(dir, ["127.0.0.153", "127.0.0.154", "127.0.0.155"]) as [
    Member,
    Member,
    Member,
  ];
  const live = [m1, m2, m3];
  const write = async (m: Member) => {
    const c = new Client({ kind: "unix", path: m.socket });
    try {
      await c.request("PATCH", "/1.0", { body: { config: { "user.w": String(Date.now()) } } });
      return true;
    } catch {
      return false;
    } finally {
      c.close();
    }
  };
  try {
    await m2.kill();
    await m3.kill();
    await shutdown(m1);
    const t0 = performance.now();
    const r = await run(SHOALD, ["cluster", "recover-from-quorum-loss", "--quiet"], { env: m1.env });
    if (r.code !== 0) throw new Error(`recover failed: ${r.stderr}`);
    launch(m1);
    await waitFor("a write after the recovery", () => write(m1), 30_000, 5);
    const recover = performance.now() - t0;
    // Floor: the same member restarted, start to first write.
    await shutdown(m1);
    const t1 = performance.now();
    launch(m1);
    await waitFor("a write after a restart", () => write(m1), 30_000, 5);
    return { recover, restart: performance.now() - t1 };
  } finally {
    for (const m of live) await m.stop();
  }
}

const resume: number[] = [];
const writeFloor: number[] = [];
const recover: number[] = [];
const restart: number[] = [];
for (let i = 0; i < runs; i++) {
  {
    await using tmp = await tempDir("bench-day2-up");
    const r = await resumeRun(tmp.path, i + 1);
    resume.push(r.resume);
    writeFloor.push(...r.floor);
  }
  {
    await using tmp = await tempDir("bench-day2-rec");
    const r = await recoveryRun(tmp.path);
    recover.push(r.recover);
    restart.push(r.restart);
  }
}
console.log(formatStats("blocked members resume after the last upgrade", percentiles(resume)));
console.log(formatStats("  floor: one write through a follower (median)", percentiles(writeFloor)));
console.log(formatStats("recover-from-quorum-loss to first write", percentiles(recover)));
console.log(formatStats("  floor: restart to first write, same member", percentiles(restart)));
console.log("LXD side by side: not installed on this machine (apt-get install lxd to compare)");
