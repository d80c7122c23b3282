/**
 * The write gap under faults of the leader, on a three-voter cluster (127.0.0.53-55): 8 writers
 * INSERT unique values through the two followers (tests/helpers/writers.ts) while the leader is
 * paused (SIGSTOP), killed (kill -9) or stopped gracefully (and while a follower is stopped
 * gracefully, writes through the other follower); the gap is the longest time without
 * any acknowledged write from the fault on. Rounds per fault (default 5), median and max. The
 * same-run floors: the longest gap between acknowledgements with no fault over as long a window,
 * and the election timeout Raft waits before it elects anew (0.5-1 s); beside each gap, the time
 * until a follower knows the new leader (polled every 10 ms), the part of the gap that is Raft's
 * election rather than forwarding. Every acknowledged value
 * is then checked to be there exactly once. LXD's own failover figures are in bench/replication.ts
 * when Debian's lxd is installed.
 *
 *   deno run -A bench/write_gap.ts [--rounds 5] [--faults "SIGSTOP,kill -9"]
 * @module
 */
import { clusterList, formCluster, leaderOf } from "../tests/helpers/cluster.ts";
import { type Member, tempDir, waitFor } from "../tests/helpers/member.ts";
import { audit, sqlRows, Writers } from "../tests/helpers/writers.ts";
import { percentiles, printRows } from "./floors.ts";

Deno.env.set("SHOAL_BENCH", "1"); // members without --debug: measure the product, not its logging
const rounds = Number(Deno.args[Deno.args.indexOf("--rounds") + 1] || 5);
const ADDR = ["127.0.0.53", "127.0.0.54", "127.0.0.55"];

type Fault = "SIGSTOP" | "kill -9" | "graceful stop" | "graceful stop of a follower";
const KINDS = [
  "no fault (floor)",
  "SIGSTOP",
  "kill -9",
  "graceful stop",
  "graceful stop of a follower",
] as const;
/** --faults a,b: only these kinds (by their row names, e.g. "SIGSTOP,kill -9"). */
const only = Deno.args.includes("--faults") ? Deno.args[Deno.args.indexOf("--faults") + 1]!.split(",") : null;

/** The leader's Raft id as m sees it (0: none known). */
async function leadSeenBy(m: Member): Promise<number> {
  const c = m.client();
  try {
    return (await c.request<{ status: { lead: number } | null }>("GET", "/internal/raft/status")).metadata
      .status
      ?.lead ?? 0;
  } catch {
    return 0;
  } finally {
    c.close();
  }
}

/** Resolves with performance.now() once m knows a leader other than `old` (polled every 10 ms). */
async function newLeaderKnown(m: Member, old: number): Promise<number> {
  for (const end = performance.now() + 30_000; performance.now() < end;) {
    const lead = await leadSeenBy(m);
    if (lead !== 0 && lead !== old) return performance.now();
    await new Promise((r) => setTimeout(r, 10));
  }
  return NaN;
}

/** Applies a fault to a member; returns how to undo it once writes flow again. */
async function fault(kind: Fault, victim: Member): Promise<() => Promise<void>> {
  switch (kind) {
    case "SIGSTOP":
      victim.process!.kill("SIGSTOP");
      return async () => {
        victim.process!.kill("SIGCONT");
        await Promise.resolve();
      };
    case "kill -9":
      await victim.kill();
      return async () => void await victim.start();
    case "graceful stop":
    case "graceful stop of a follower":
      // Not awaited: the gap counts from the signal, while the victim hands over and stops.
      void victim.stop();
      return async () => {
        await waitFor("the stopped member to end", () => victim.process === null, 30_000);
        await victim.start();
      };
  }
}

await using dir = await tempDir("bench-write-gap");
const ms = await formCluster(dir.path, ADDR);
const gaps = new Map<Fault | "no fault (floor)", number[]>();
/** From the fault until a follower knows the new leader: the part of the gap that is Raft's election. */
const elections = new Map<Fault, number[]>();
let writers: Writers[] = [];
try {
  await sqlRows(ms[0]!, "CREATE TABLE gap (v TEXT NOT NULL)");
  for (const kind of KINDS.filter((k) => !only || only.includes(k))) {
    for (let r = 0; r < rounds; r++) {
      const leader = await leaderOf(ms, ms[0]!);
      const followers = ms.filter((m) => m !== leader);
      // A follower's stop: writes go through the other follower, and nobody is elected.
      const ofFollower = kind === "graceful stop of a follower";
      const victim = ofFollower ? followers[1]! : leader;
      const via = ofFollower ? [followers[0]!] : followers;
      const w = new Writers("gap", () => via, 8, `r${writers.length}-`);
      writers.push(w);
      w.start();
      await waitFor("writes flowing", () => w.acked.size >= 50, 30_000);
      const t0 = performance.now();
      let undo: () => Promise<void> = () => Promise.resolve();
      if (kind === "no fault (floor)") await new Promise((res) => setTimeout(res, 2_000));
      else {
        const old = await leadSeenBy(followers[0]!);
        const elected = ofFollower ? null : newLeaderKnown(followers[0]!, old);
        undo = await fault(kind, victim);
        const at = w.acked.size;
        await waitFor("writes after the fault", () => w.acked.size >= at + 50, 30_000);
        if (elected) elections.set(kind, [...(elections.get(kind) ?? []), (await elected) - t0]);
      }
      const gap = w.gapAfter(t0, performance.now() - t0);
      await w.stop();
      await undo();
      gaps.set(kind, [...(gaps.get(kind) ?? []), gap]);
      // All three back and a leader known before the next round.
      await waitFor("three members online", async () => {
        const rows = await clusterList(ms[0]!).catch(() => []);
        return rows.length === 3 && rows.every((x) => x.state === "ONLINE");
      }, 30_000);
    }
  }
  const rows = [["fault", "gap median ms", "gap max ms", "new leader known median", "max", "rounds"]];
  for (const [kind, g] of gaps) {
    const s = percentiles(g);
    const known = elections.get(kind as Fault);
    const e = known ? percentiles(known) : null;
    rows.push([
      kind,
      s.median.toFixed(0),
      s.max.toFixed(0),
      e ? e.median.toFixed(0) : "",
      e ? e.max.toFixed(0) : "",
      String(s.n),
    ]);
  }
  rows.push(["election timeout (floor)", "500-1000", "", "", "", ""]);
  console.log("write gap through followers, 8 writers:");
  printRows(rows);
  let lost = 0, twice = 0, acked = 0;
  for (const w of writers) {
    const a = await audit(ms[0]!, w);
    lost += a.lost.length;
    twice += a.twice.length;
    acked += w.acked.size;
  }
  console.log(`exactly once: ${acked} acknowledged writes, ${twice} applied twice, ${lost} lost`);
  if (twice > 0 || lost > 0) Deno.exitCode = 1;
} finally {
  for (const w of writers) await w.stop();
  writers = [];
  for (const m of ms) {
    m.process?.kill("SIGCONT");
    await m.stop();
  }
}
