/**
 * Latency and throughput of `GET /1.0`, over mutual TLS and over the unix socket, for:
 *
 * - shoal: a real `bin/shoald` in its own process, called by a trusted client certificate;
 * - the floor: a bare handler (a constant body of the same bytes, no logic) served in its own process by the
 *   very listeners shoald uses (lib/daemon's HttpsListener and UnixListener), so the difference is shoal's logic;
 * - LXD itself, when Debian's `lxd` is installed and can run here, started with its own LXD_DIR on 127.0.0.1.
 *
 * Latency is of sequential requests on one keep-alive connection; req/s is with CONCURRENCY callers.
 * Run: `deno run -A bench/api_latency.ts` (or `deno task bench api_latency`). Env: N (sequential requests,
 * default 2000), SECONDS (throughput run, default 3), CONCURRENCY (default 8).
 * @module
 */
import https from "node:https";
import type { AddressInfo } from "node:net";
import net from "node:net";
import { benchKeyPairs, percentiles, printRows, type Stats, throughput } from "./floors.ts";
import { findLxd, LxdDaemon, sh } from "./lxd.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const N = Number(Deno.env.get("N") ?? 2000);
const SECONDS = Number(Deno.env.get("SECONDS") ?? 3);
const CONCURRENCY = Number(Deno.env.get("CONCURRENCY") ?? 8);
const HOST = "127.0.0.1";

export interface Target {
  name: string;
  socket: string;
  port: number;
  /** Server certificate (PEM) to pin. */
  cert: string;
  stop(): Promise<void>;
}

interface Row {
  target: string;
  transport: string;
  latency: Stats;
  perSecond: number;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, HOST, () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function waitSocket(path: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      (await Deno.connect({ transport: "unix", path })).close();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`${path} does not answer: ${e}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function unixGetter(path: string): { get: () => Promise<string>; close: () => void } {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path } });
  return {
    get: async () => {
      const res = await fetch("http://bench/1.0", { client });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`GET /1.0 over ${path}: ${res.status} ${text}`);
      return text;
    },
    close: () => client.close(),
  };
}

async function tlsGetter(t: Target): Promise<{ get: () => Promise<string>; close: () => void }> {
  const { client } = await benchKeyPairs();
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: CONCURRENCY,
    cert: client.cert,
    key: client.key,
    ca: t.cert,
    checkServerIdentity: () => undefined,
  });
  return {
    get: () =>
      new Promise((resolve, reject) => {
        const req = https.request({ host: HOST, port: t.port, path: "/1.0", agent }, (res) => {
          const chunks: Uint8Array[] = [];
          res.on("data", (c: Uint8Array) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            if (res.statusCode !== 200) reject(new Error(`GET /1.0 over TLS: ${res.statusCode} ${text}`));
            else resolve(text);
          });
          res.on("error", reject);
        });
        req.on("error", reject);
        req.end();
      }),
    close: () => agent.destroy(),
  };
}

async function measureTarget(t: Target): Promise<Row[]> {
  const rows: Row[] = [];
  for (const transport of ["mutual TLS", "unix socket"]) {
    const g = transport === "unix socket" ? unixGetter(t.socket) : await tlsGetter(t);
    try {
      const body = await g.get();
      if (!body.includes('"auth":"trusted"') && !body.includes('"auth": "trusted"')) {
        throw new Error(`${t.name} over ${transport} does not trust the bench client: ${body.slice(0, 200)}`);
      }
      for (let i = 0; i < Math.ceil(N / 10); i++) await g.get();
      const samples: number[] = [];
      for (let i = 0; i < N; i++) {
        const t0 = performance.now();
        await g.get();
        samples.push(performance.now() - t0);
      }
      // Each caller gets its own client (its own connection), as separate lxc processes would.
      const pool = await Promise.all(
        Array.from(
          { length: CONCURRENCY },
          () => transport === "unix socket" ? unixGetter(t.socket) : tlsGetter(t),
        ),
      );
      const free = [...pool];
      const tp = await throughput(SECONDS * 1000, CONCURRENCY, async () => {
        const p = free.pop()!;
        try {
          return await p.get();
        } finally {
          free.push(p);
        }
      }).finally(() => pool.forEach((p) => p.close()));
      rows.push({ target: t.name, transport, latency: percentiles(samples), perSecond: tp.perSecond });
    } finally {
      g.close();
    }
  }
  return rows;
}

/** A real shoald, with the bench's client certificate trusted. */
async function startShoal(dir: string): Promise<Target> {
  const env = { SHOAL_DIR: `${dir}/shoal`, SHOAL_CONF: `${dir}/shoal.conf` };
  await Deno.mkdir(env.SHOAL_DIR, { recursive: true });
  const child = new Deno.Command(`${ROOT}/bin/shoald`, { env, stdout: "null", stderr: "null" }).spawn();
  await sh(`${ROOT}/bin/shoald`, ["waitready", "--timeout", "60"], env);
  const port = await freePort();
  await sh(`${ROOT}/bin/shoal`, ["config", "set", "core.https_address", `${HOST}:${port}`], env);
  const { client } = await benchKeyPairs();
  await sh(`${ROOT}/bin/shoal`, [
    "query",
    "-X",
    "POST",
    "-d",
    JSON.stringify({ type: "client", name: "bench", certificate: client.cert }),
    "/1.0/certificates",
  ], env);
  return {
    name: "shoal",
    socket: `${env.SHOAL_DIR}/unix.socket`,
    port,
    cert: await Deno.readTextFile(`${env.SHOAL_DIR}/server.crt`),
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/** The floor server (runs in its own process, as shoald does): a constant body on shoald's listeners. */
async function floorServer(dir: string, port: number, bodyFile: string): Promise<void> {
  const { HttpsListener, InFlight, UnixListener } = await import("../lib/daemon/mod.ts");
  const body = await Deno.readFile(bodyFile);
  const { server } = await benchKeyPairs();
  const inflight = new InFlight();
  const bare = () => new Response(body, { headers: { "Content-Type": "application/json" } });
  const noWs = () => {
    throw new Error("no websockets here");
  };
  await HttpsListener.listen({ host: HOST, port, label: `${HOST}:${port}` }, server, bare, noWs, inflight);
  await UnixListener.listen(`${dir}/unix.socket`, bare, noWs, inflight);
  await Deno.writeTextFile(`${dir}/server.crt`, server.cert);
  await new Promise(() => {}); // served until killed
}

async function startFloor(dir: string, body: string): Promise<Target> {
  const fdir = `${dir}/floor`;
  await Deno.mkdir(fdir, { recursive: true });
  await Deno.writeTextFile(`${fdir}/body.json`, body);
  const port = await freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--cached-only",
      import.meta.filename!,
      "--floor-server",
      fdir,
      String(port),
      `${fdir}/body.json`,
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await waitSocket(`${fdir}/unix.socket`);
  for (let i = 0; i < 100; i++) {
    try {
      await Deno.stat(`${fdir}/server.crt`);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    name: "floor (bare handler)",
    socket: `${fdir}/unix.socket`,
    port,
    cert: await Deno.readTextFile(`${fdir}/server.crt`),
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/** Debian's LXD with its own LXD_DIR, or why it cannot run here. */
export async function startLxd(dir: string): Promise<Target | string> {
  const lxd = findLxd();
  if (!lxd) return "Debian's lxd is not installed (apt-get install -y lxd)";
  let d: LxdDaemon;
  try {
    d = await new LxdDaemon(lxd, dir).start();
  } catch (e) {
    return (e as Error).message;
  }
  try {
    const port = await freePort();
    await d.lxc(["config", "set", "core.https_address", `${HOST}:${port}`]);
    const { client } = await benchKeyPairs();
    await Deno.writeTextFile(`${dir}/bench-client.crt`, client.cert);
    await d.lxc(["config", "trust", "add", `${dir}/bench-client.crt`, "--name", "bench"]);
    return {
      name: `LXD ${(await sh(lxd, ["version"], d.env)).trim()}`,
      socket: d.socket,
      port,
      cert: await Deno.readTextFile(`${dir}/lxd/server.crt`),
      stop: () => d.stop(),
    };
  } catch (e) {
    await d.stop();
    return `lxd started but could not be set up: ${(e as Error).message}`;
  }
}

function fmt(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(3);
}

async function main(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "shoal-bench-api-" });
  const targets: Target[] = [];
  const rows: Row[] = [];
  let lxdNote = "";
  try {
    const shoal = await startShoal(dir);
    targets.push(shoal);
    const body = await unixGetter(shoal.socket).get();
    const floor = await startFloor(dir, body);
    targets.push(floor);
    rows.push(...await measureTarget(floor));
    rows.push(...await measureTarget(shoal));
    const lxd = await startLxd(dir);
    if (typeof lxd === "string") lxdNote = lxd;
    else {
      targets.push(lxd);
      rows.push(...await measureTarget(lxd));
    }
  } finally {
    for (const t of targets.reverse()) await t.stop().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  console.log(
    `GET /1.0: ${N} sequential requests (latency, ms), then ${SECONDS} s with ${CONCURRENCY} callers (req/s)`,
  );
  const floorOf = (transport: string) =>
    rows.find((r) => r.target.startsWith("floor") && r.transport === transport)!;
  printRows([
    ["target", "transport", "median", "p99", "req/s", "median/floor"],
    ...rows.map((r) => [
      r.target,
      r.transport,
      fmt(r.latency.median),
      fmt(r.latency.p99),
      r.perSecond.toFixed(0),
      (r.latency.median / floorOf(r.transport).latency.median).toFixed(2) + "x",
    ]),
  ]);
  if (lxdNote) console.log(`LXD: not measured: ${lxdNote}`);
}

if (import.meta.main) {
  if (Deno.args[0] === "--floor-server") {
    await floorServer(Deno.args[1]!, Number(Deno.args[2]), Deno.args[3]!);
  } else await main();
}
