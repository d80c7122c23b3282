/**
 * Heartbeat cost on the database leader with 3, 30 and 100 members: the leader's CPU (from
 * /proc/PID/stat of the real leader process) and the bytes per second of heartbeat traffic.
 * Three real members on 127.0.0.141-143; members 4 and up are simulated in this process: HTTPS
 * responders on 127.0.0.150 (one port each) that serve the cluster certificate with mutual TLS,
 * answer PUT /internal/heartbeat and hold the /1.0/events websocket the other members open, and
 * are registered as members by rows in the nodes table (they are not Raft members, so roles do
 * not move). Bytes are counted at the simulated members (HTTP request line, headers and body,
 * and the answer; TLS framing not included) and scaled to every member the leader heartbeats.
 * Last, one simulated member stops answering (frozen, not gone): the others must keep getting
 * heartbeats, and only it must show OFFLINE after the threshold.
 * Floor from the same run: one loopback mutual-TLS round trip.
 *
 *   deno run -A bench/heartbeat.ts [--seconds 10]
 * @module
 */
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
// @ts-types="@types/ws"
import { WebSocketServer } from "ws";
import { clusterList, formCluster, leaderOf, waitForVoters } from "../tests/helpers/cluster.ts";
import { type Member, tempDir, waitFor } from "../tests/helpers/member.ts";
import { formatStats, tlsRoundTripFloor } from "./floors.ts";

const seconds = Number(Deno.args[Deno.args.indexOf("--seconds") + 1] || 10);
const ADDR = ["127.0.0.141", "127.0.0.142", "127.0.0.143"];
const SIM_HOST = "127.0.0.150";
const SIM_PORT0 = 10_001;
/** Members in all, and how many of the simulated ones stop answering. */
const SCENARIOS = [{ size: 3, hang: 0 }, { size: 30, hang: 0 }, { size: 100, hang: 0 }, {
  size: 100,
  hang: 1,
}];
const CLK_TCK = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // fields 14 and 15 (utime, stime)
}

/** What the simulated members received. */
const counts = { heartbeats: 0, bytes: 0, connections: 0 };
/** Arrival times (ms) of heartbeats at the simulated members, to tell rounds apart. */
let arrivals: number[] = [];
/** Simulated members (by port) that stop answering: a member frozen, not gone. */
const hung = new Set<number>();

/** Median spread of a round (first to last arrival) and median period between rounds, ms. */
function rounds(times: number[]): { spread: number; period: number } {
  const starts: number[] = [];
  const spreads: number[] = [];
  let first = NaN;
  let last = NaN;
  for (const t of [...times].sort((a, b) => a - b)) {
    if (Number.isNaN(last) || t - last > 150) {
      if (!Number.isNaN(first)) spreads.push(last - first);
      starts.push(t);
      first = t;
    }
    last = t;
  }
  const median = (xs: number[]) =>
    xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : NaN;
  return { spread: median(spreads), period: median(starts.slice(1).map((t, i) => t - starts[i]!)) };
}

const OK = JSON.stringify({
  type: "sync",
  status: "Success",
  status_code: 200,
  operation: "",
  error_code: 0,
  error: "",
  metadata: {},
});

function requestBytes(req: IncomingMessage): number {
  let n = `${req.method} ${req.url} HTTP/1.1\r\n`.length + 2;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    n += req.rawHeaders[i]!.length + 2 + req.rawHeaders[i + 1]!.length + 2;
  }
  return n;
}

/** One simulated member: answers heartbeats, holds event streams open, and 404s the rest. */
async function simulatedMember(port: number, tls: { cert: string; key: string }): Promise<() => void> {
  const wss = new WebSocketServer({ noServer: true });
  const server = https.createServer(
    { cert: tls.cert, key: tls.key, ca: tls.cert, requestCert: true, rejectUnauthorized: true },
    (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Uint8Array[] = [];
      req.on("data", (c: Uint8Array) => chunks.push(c));
      req.on("end", () => {
        const body = chunks.reduce((n, c) => n + c.length, 0);
        if (req.method === "PUT" && req.url === "/internal/heartbeat") {
          if (hung.has(port)) return; // never answered: the leader's request times out
          counts.heartbeats++;
          arrivals.push(performance.now());
          // The answer as shoal sends it: status line, two headers, the envelope.
          counts.bytes += requestBytes(req) + body + 17 + 48 + OK.length + 4;
          res.writeHead(200, { "Content-Type": "application/json" }).end(OK);
          return;
        }
        res.writeHead(404, { "Content-Type": "application/json" }).end(
          JSON.stringify({ type: "error", error: "not found", error_code: 404 }),
        );
      });
    },
  );
  server.on("secureConnection", () => counts.connections++);
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!req.url?.startsWith("/1.0/events")) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => ws.on("error", () => {}));
  });
  await new Promise<void>((r) => server.listen(port, SIM_HOST, () => r()));
  return () => {
    for (const c of wss.clients) c.terminate();
    server.closeAllConnections();
    server.close();
  };
}

async function sql(m: Member, query: string): Promise<unknown> {
  const c = m.client();
  try {
    return (await c.request("POST", "/internal/sql", { body: { database: "global", query } })).metadata;
  } finally {
    c.close();
  }
}

await using dir = await tempDir("bench-heartbeat");
const rtt = await tlsRoundTripFloor({ n: 1000 });
console.log("floor (same run):");
console.log(formatStats("  loopback mTLS round trip", rtt));

const ms = await formCluster(dir.path, ADDR);
const stops: (() => void)[] = [];
try {
  await waitForVoters(ms[0]!, 3);
  const leader = await leaderOf(ms, ms[0]!);
  const follower = ms.find((m) => m !== leader)!;
  const tls = {
    cert: await Deno.readTextFile(`${leader.dir}/cluster.crt`),
    key: await Deno.readTextFile(`${leader.dir}/cluster.key`),
  };
  console.log(
    `\nleader ${leader.name} (pid ${
      leader.process!.pid
    }); ${seconds} s per size; members 4+ simulated on ${SIM_HOST}`,
  );
  console.log(
    "      members  leader CPU  follower CPU  heartbeats/s  per member/s  new TLS conn/s  bytes/heartbeat  heartbeat bytes/s  added leader CPU per heartbeat  round spread  round period",
  );
  let sims = 0;
  const perBeatAt = new Map<number, number>();
  let baseCpu = NaN;
  let rate = NaN;
  for (const { size, hang } of SCENARIOS) {
    while (3 + sims < size) {
      const port = SIM_PORT0 + sims;
      stops.push(await simulatedMember(port, tls));
      sims++;
      await sql(
        leader,
        `INSERT INTO nodes (name, address, schema, api_extensions, arch)
           SELECT 'sim${sims}', '${SIM_HOST}:${port}', schema, api_extensions, arch FROM nodes WHERE name = '${leader.name}'`,
      );
    }
    // Let connections to the new members open and the heartbeat settle.
    for (let i = 0; i < hang; i++) hung.add(SIM_PORT0 + i);
    const want = size - 3 - hang;
    await waitFor(
      `heartbeats to ${want} simulated members`,
      async () => {
        const before = counts.heartbeats;
        await new Promise((r) => setTimeout(r, 1500));
        // With a member hung, what follows is what the measurement is for: do not wait for it.
        return want === 0 || hang > 0 || counts.heartbeats - before >= want;
      },
      30_000,
      0,
    );
    const pid = leader.process!.pid;
    const fpid = follower.process!.pid;
    const c0 = cpuSeconds(pid);
    const f0 = cpuSeconds(fpid);
    const h0 = counts.heartbeats;
    const n0 = counts.connections;
    const b0 = counts.bytes;
    arrivals = [];
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const round = rounds(arrivals);
    const wall = (performance.now() - t0) / 1000;
    const handshakes = (counts.connections - n0) / wall;
    const cpu = (cpuSeconds(pid) - c0) / wall;
    const fcpu = (cpuSeconds(fpid) - f0) / wall;
    const simBeats = (counts.heartbeats - h0) / wall;
    const perBeat = counts.heartbeats - h0 > 0 ? (counts.bytes - b0) / (counts.heartbeats - h0) : NaN;
    // The two real followers get the same heartbeats as the simulated ones: rate per member × members.
    const perMember = want > 0 ? simBeats / want : NaN;
    const beats = want > 0 ? perMember * (size - 1 - hang) : NaN;
    const bytes = beats * perBeat;
    if (want === 0) baseCpu = cpu;
    else if (Number.isNaN(rate)) rate = perMember; // the smallest measured size, nearest to 3
    // What the simulated members added to the three-member leader's CPU, per heartbeat sent to them.
    const cpuPerBeatMs = want > 0 && simBeats > 0 ? ((cpu - baseCpu) * 1000) / simBeats : NaN;
    if (!Number.isNaN(perBeat) && hang === 0) perBeatAt.set(size, perBeat);
    console.log(
      [
        (hang ? `${size} (${hang} hung)` : String(size)).padStart(13),
        `${(cpu * 100).toFixed(1)}%`.padStart(11),
        `${(fcpu * 100).toFixed(1)}%`.padStart(13),
        (Number.isNaN(beats) ? "n/a" : beats.toFixed(1)).padStart(13),
        (Number.isNaN(perMember) ? "n/a" : perMember.toFixed(2)).padStart(13),
        (want > 0 ? handshakes.toFixed(1) : "n/a").padStart(15),
        (Number.isNaN(perBeat) ? "n/a" : perBeat.toFixed(0)).padStart(16),
        (Number.isNaN(bytes) ? "n/a" : bytes.toFixed(0)).padStart(18),
        (Number.isNaN(cpuPerBeatMs) ? "n/a" : `${cpuPerBeatMs.toFixed(3)} ms`).padStart(31),
        (Number.isNaN(round.spread) ? "n/a" : `${round.spread.toFixed(0)} ms`).padStart(13),
        (Number.isNaN(round.period) ? "n/a" : `${round.period.toFixed(0)} ms`).padStart(13),
      ].join(" "),
    );
  }
  // A frozen member must cost the others nothing: after the offline threshold, who is shown OFFLINE?
  await new Promise((r) => setTimeout(r, 22_000));
  const offline = (await clusterList(leader)).filter((r) => r.state === "OFFLINE").map((r) => r.name);
  console.log(
    `${offline.length} members OFFLINE 22 s after sim1 stopped answering (want 1: sim1): ${
      offline.slice(0, 6).join(", ")
    }${offline.length > 6 ? ", …" : ""}`,
  );
  // With three real members no heartbeat passes through this process: its size grows by one line
  // per member, so it is read off the line through the two measured sizes.
  const [x1, x2] = [30, 100];
  const [y1, y2] = [perBeatAt.get(x1)!, perBeatAt.get(x2)!];
  const at3 = y1 + ((y2 - y1) / (x2 - x1)) * (3 - x1);
  const perLine = (y2 - y1) / (x2 - x1);
  console.log(
    `3 members (extrapolated): ${at3.toFixed(0)} bytes/heartbeat, ${
      (at3 * 2 * rate).toFixed(0)
    } bytes/s (2 followers at ${rate.toFixed(2)} heartbeats/s, as at 30); ${
      perLine.toFixed(0)
    } bytes per member line`,
  );
  console.log(
    `(CPU: share of one core; the floor: one loopback mTLS round trip, median ${rtt.median.toFixed(3)} ms)`,
  );
} finally {
  for (const s of stops) s();
  for (const m of ms.reverse()) await m.stop();
}
