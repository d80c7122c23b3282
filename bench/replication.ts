/**
 * Replicated writes on a three-voter cluster (127.0.0.91-93): committed transactions per second
 * with 1 and 16 concurrent clients, via the leader and via a follower, through the REST API
 * (PATCH /1.0, one transaction each) and through the database path (`shoald sql global`'s
 * endpoint: one INSERT each), their commit latency, and write unavailability after kill -9 and
 * after a graceful shutdown of the leader. Floors from the same run: raw fsync, one SQLite FULL
 * commit, one loopback mTLS round trip; and, when Debian's lxd is installed, a three-member LXD
 * cluster (127.0.0.97-99) formed the same way and measured the same way, side by side: its
 * config-write rate and its two failovers.
 *
 *   deno run -A bench/replication.ts [--seconds 5]
 * @module
 */
import { Client } from "../lib/client/mod.ts";
import { requestBytes } from "../lib/client/bytes.ts";
import { clusterList, formCluster, leaderOf, waitForVoters } from "../tests/helpers/cluster.ts";
import { type LxdDaemon, startLxdCluster } from "./lxd.ts";
import { tempDir, waitFor } from "../tests/helpers/member.ts";
import {
  formatStats,
  fsyncFloor,
  percentiles,
  sqliteCommitFloor,
  throughput,
  tlsRoundTripFloor,
} from "./floors.ts";

Deno.env.set("SHOAL_BENCH", "1"); // members without --debug: measure the product, not its logging
const seconds = Number(Deno.args[Deno.args.indexOf("--seconds") + 1] || 5);
const ADDR = ["127.0.0.91", "127.0.0.92", "127.0.0.93"];
const LXD_ADDR = ["127.0.0.97", "127.0.0.98", "127.0.0.99"];

/** Time from `event()` until a config write through `c` succeeds again (ms). */
async function unavailability(c: Client, event: () => Promise<void>): Promise<number> {
  try {
    await event();
    const start = performance.now();
    for (let i = 0;; i++) {
      try {
        await c.request("PATCH", "/1.0", { body: { config: { "user.after": String(i) } } });
        return performance.now() - start;
      } catch {
        await new Promise((r) => setTimeout(r, 5));
      }
      if (performance.now() - start > 30_000) return Infinity;
    }
  } finally {
    c.close();
  }
}

await using dir = await tempDir("bench-replication");
console.log("floors (same run):");
console.log(formatStats("  raw write+fsync", await fsyncFloor({ dir: dir.path, n: 200 })));
console.log(formatStats("  sqlite FULL commit", await sqliteCommitFloor({ dir: dir.path, n: 200 })));
console.log(formatStats("  loopback mTLS round trip", await tlsRoundTripFloor({ n: 500 })));

/** CPU time (user + system, ms) a process has used so far: /proc/PID/stat's utime and stime. */
function cpuMs(pid: number | "self"): number {
  const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * 10; // clock ticks of 10 ms (USER_HZ 100)
}

/**
 * Whose CPU each write costs, for a rate run: on two cores the whole cluster's CPU per write
 * bounds the 16-client rate, and a process that gets cheaper shows here first.
 */
interface CpuWatch {
  /** Process id per name, and the bench's own process ("client"). */
  pids: [string, number | "self"][];
  /** The highest applied index among the members: entries committed, to say how many writes an entry carried. */
  applied?: () => Promise<number>;
}

/** Committed writes per second through `open()`'s clients, 1 and 16 at a time, printed as `label`. */
async function rates(
  label: string,
  open: () => Client,
  write: (c: Client, n: number, conc: number) => Promise<unknown>,
  cpu?: CpuWatch,
): Promise<void> {
  for (const conc of [1, 16]) {
    const clients = Array.from({ length: conc }, open);
    let i = 0;
    const before = cpu?.pids.map(([, p]) => cpuMs(p));
    const a0 = await cpu?.applied?.();
    const r = await throughput(seconds * 1000, conc, async () => {
      const n = i++;
      await write(clients[n % conc]!, n, conc);
    });
    const a1 = await cpu?.applied?.();
    for (const c of clients) c.close();
    console.log(
      `${label}, ${String(conc).padStart(2)} clients: ${r.perSecond.toFixed(0)} committed tx/s; ${
        formatStats("latency", r.latency).trim()
      }`,
    );
    if (cpu && before) {
      const writes = r.latency.n;
      const per = cpu.pids.map(([name, p], k) =>
        `${name} ${((cpuMs(p) - before[k]!) * 1000 / writes).toFixed(0)}`
      );
      const entries = a0 !== undefined && a1 !== undefined && a1 > a0
        ? `; ${(writes / (a1 - a0)).toFixed(1)} writes per entry`
        : "";
      console.log(`  CPU us per write: ${per.join(", ")}${entries}`);
    }
  }
}

/** The highest Raft index applied on `m`, from its metrics. */
async function appliedIndex(m: { socket: string }): Promise<number> {
  const c = new Client({ kind: "unix", path: m.socket });
  try {
    const text = new TextDecoder().decode((await requestBytes(c, "GET", "/1.0/metrics", null)).body);
    return Math.max(
      0,
      ...[...text.matchAll(/^shoal_raft_applied_index\{[^}]*\} (\d+)$/gm)].map((x) => Number(x[1])),
    );
  } finally {
    c.close();
  }
}

/** A client on the member's socket whose connections stay open between requests, as lxc's. */
const kept = (m: { socket: string }) => new Client({ kind: "unix", path: m.socket }, { keepAlive: true });

/** A config write through the REST API, as LXD's figure is measured (one transaction: check, diff, write). */
const patch = (c: Client, n: number, conc: number) =>
  c.request("PATCH", "/1.0", { body: { config: { [`user.b${n % conc}`]: String(n) } } });

// LXD's own figures, side by side: a three-member LXD cluster formed the same way, config writes
// through its REST API on a member's socket, then the same two leader failures.
const lxdCluster = await startLxdCluster(`${dir.path}/lxd`, LXD_ADDR);
if (typeof lxdCluster === "string") console.log(`LXD: ${lxdCluster}`);
else {
  try {
    const leader = await lxdCluster.leader();
    const follower = lxdCluster.members.find((m) => m !== leader)!;
    const lxdClient = (m: LxdDaemon) => () =>
      new Client({ kind: "unix", path: m.socket }, { keepAlive: true });
    for (const [label, via] of [["leader", leader], ["follower", follower]] as const) {
      await rates(`${lxdCluster.version} PATCH /1.0 via ${label}`, lxdClient(via), patch);
    }
    const g = await unavailability(lxdClient(follower)(), () => leader.stop());
    console.log(
      `${lxdCluster.version}: write unavailability after graceful shutdown of the leader: ${g.toFixed(0)} ms`,
    );
    await leader.start();
    const l = await lxdCluster.leader();
    const via = lxdCluster.members.find((m) => m !== l)!;
    const k = await unavailability(lxdClient(via)(), () => l.killed());
    console.log(
      `${lxdCluster.version}: write unavailability after kill -9 of the leader: ${k.toFixed(0)} ms`,
    );
  } finally {
    await lxdCluster.stop();
  }
}

const ms = await formCluster(dir.path, ADDR);
try {
  await waitForVoters(ms[0]!, 3);
  const leader = await leaderOf(ms, ms[0]!);
  const follower = ms.find((m) => m !== leader)!;
  const pid = (m: { process: Deno.ChildProcess | null }) => m.process!.pid;
  for (const [label, via] of [["leader", leader], ["follower", follower]] as const) {
    const other = ms.find((m) => m !== leader && m !== via)!;
    const pids: [string, number | "self"][] = label === "leader"
      ? [["leader", pid(leader)], ["follower", pid(follower)], ["other follower", pid(other)], [
        "client",
        "self",
      ]]
      : [["leader", pid(leader)], ["serving follower", pid(via)], ["other follower", pid(other)], [
        "client",
        "self",
      ]];
    await rates(`shoal PATCH /1.0 via ${label}`, () => kept(via), patch, {
      pids,
      applied: () => appliedIndex(leader),
    });
  }
  // The database path: one replicated transaction per request (what `shoald sql global` sends),
  // into a table of its own, after the REST path, which keeps LXD's usual small config table.
  const c = leader.client();
  await c.request("POST", "/internal/sql", {
    body: { database: "global", query: "CREATE TABLE bench_kv (k TEXT PRIMARY KEY, v TEXT)" },
  });
  c.close();
  for (const [label, via] of [["leader", leader], ["follower", follower]] as const) {
    await rates(
      `db transactions via ${label}`,
      () => kept(via),
      (c, n, conc) =>
        c.request("POST", "/internal/sql", {
          body: {
            database: "global",
            query: `INSERT INTO bench_kv (k, v) VALUES ('${label}${conc}-${n}', '1')`,
          },
        }),
    );
  }
  // Graceful shutdown of the leader: it hands over first.
  const g = await unavailability(follower.client(), async () => {
    await leader.stop();
  });
  console.log(
    `shoal: write unavailability after graceful shutdown of the leader: ${g.toFixed(0)} ms`,
  );
  await leader.start();
  await waitFor(
    "all online",
    async () => (await clusterList(follower)).every((r) => r.state === "ONLINE"),
    30_000,
  );
  const kills: number[] = [];
  for (let round = 0; round < 3; round++) {
    const l = await leaderOf(ms, follower);
    const via = ms.find((m) => m !== l)!;
    kills.push(await unavailability(via.client(), () => l.kill()));
    await l.start();
    await waitFor(
      "all online",
      async () => (await clusterList(via)).every((r) => r.state === "ONLINE"),
      30_000,
    );
  }
  const k = percentiles(kills);
  console.log(
    `shoal: write unavailability after kill -9 of the leader: median ${k.median.toFixed(0)} ms, max ${
      k.max.toFixed(0)
    } ms over ${kills.length}`,
  );
} finally {
  await Promise.all(ms.map((m) => m.stop()));
}
