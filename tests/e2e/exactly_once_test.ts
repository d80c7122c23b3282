/**
 * Every write takes effect exactly once under the faults of issue 20, with real daemons on
 * 127.0.0.50-52: 8 writers INSERT unique values through followers while a follower is stopped
 * gracefully and started again, while the leader is stopped gracefully, and while the leader is
 * paused (SIGSTOP). Every acknowledged value must be there, none twice, every graceful stop must
 * end by itself, and writes must flow again while the paused leader stays paused. The write gaps
 * are printed (bench/write_gap.ts measures them).
 */
import assert from "node:assert/strict";
import { formCluster, leaderOf } from "../helpers/cluster.ts";
import { type Member, tempDir, waitFor } from "../helpers/member.ts";
import { audit, sqlRows, Writers } from "../helpers/writers.ts";

const ADDR = ["127.0.0.50", "127.0.0.51", "127.0.0.52"];

/** Waits until w has n more acknowledgements than `since` (a count), bounded generously. */
async function acksGrow(w: Writers, what: string, n = 30): Promise<void> {
  const from = w.acked.size;
  await waitFor(what, () => w.acked.size >= from + n, 40_000);
}

/** Stops m gracefully; the stop must end by itself (SIGKILL after 20 s would fail the test). */
async function gracefulStop(m: Member): Promise<void> {
  const st = await m.stop(20_000);
  assert.ok(st, `${m.name} was not running`);
  assert.equal(st.signal, null, `${m.name}'s graceful stop did not end by itself: it was killed`);
  assert.equal(st.code, 0, `${m.name} exited with code ${st.code}`);
}

async function checkOnce(via: Member, w: Writers): Promise<void> {
  const { lost, twice } = await audit(via, w);
  assert.deepEqual(twice, [], `values applied more than once (${w.acked.size} acknowledged)`);
  assert.deepEqual(lost, [], "acknowledged values missing");
}

Deno.test({
  name: "writes through followers are applied exactly once while members stop, restart and pause",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using dir = await tempDir("exactly-once");
    const ms = await formCluster(dir.path, ADDR);
    const paused: Member[] = [];
    try {
      assert.deepEqual(await sqlRows(ms[0]!, "CREATE TABLE once_a (v TEXT NOT NULL)"), []);
      await sqlRows(ms[0]!, "CREATE TABLE once_b (v TEXT NOT NULL)");
      await sqlRows(ms[0]!, "CREATE TABLE once_c (v TEXT NOT NULL)");

      await t.step("a follower stopped gracefully and started again 3 times under load", async () => {
        const leader = await leaderOf(ms, ms[0]!);
        const f = ms.find((m) => m !== leader)!;
        const w = new Writers("once_a", () => [f]);
        w.start();
        try {
          for (let round = 1; round <= 3; round++) {
            await acksGrow(w, `writes through ${f.name} before round ${round}`);
            await gracefulStop(f);
            await f.start();
          }
          await acksGrow(w, `writes through ${f.name} after its restarts`);
        } finally {
          await w.stop();
        }
        await checkOnce(leader, w);
      });

      await t.step("the leader stopped gracefully under load", async () => {
        const leader = await leaderOf(ms, ms[0]!);
        const followers = ms.filter((m) => m !== leader);
        const w = new Writers("once_b", () => followers);
        w.start();
        let gap = 0;
        try {
          await acksGrow(w, "writes before the leader stops");
          const t0 = performance.now();
          await gracefulStop(leader);
          await acksGrow(w, "writes after the leader stopped");
          gap = w.gapAfter(t0);
        } finally {
          await w.stop();
        }
        console.log(`write gap after a graceful stop of the leader: ${gap.toFixed(0)} ms`);
        await checkOnce(followers[0]!, w);
        await leader.start();
      });

      await t.step("the leader paused (SIGSTOP) under load", async () => {
        const leader = await leaderOf(ms, ms[0]!);
        const followers = ms.filter((m) => m !== leader);
        const w = new Writers("once_c", () => followers);
        w.start();
        let gap = 0;
        try {
          await acksGrow(w, "writes before the leader is paused");
          const t0 = performance.now();
          leader.process!.kill("SIGSTOP");
          paused.push(leader);
          // Writes flow again while the old leader stays paused, every writer's: the writes
          // forwarded to it follow the new leader. 15 s is many elections, and half the time a
          // write once waited there (the old forwarding's 30 s timeout).
          await waitFor(
            "every writer to have a write acknowledged while the old leader is paused",
            () => w.writersAckedSince(t0) === w.count,
            15_000,
          );
          gap = w.gapAfter(t0);
          leader.process!.kill("SIGCONT");
          paused.pop();
          await acksGrow(w, "writes after the old leader resumed");
        } finally {
          await w.stop();
        }
        console.log(`write gap after SIGSTOP of the leader: ${gap.toFixed(0)} ms`);
        await checkOnce(followers[0]!, w);
      });
    } finally {
      for (const m of paused) m.process?.kill("SIGCONT");
      for (const m of ms) await m.stop();
    }
  },
});
