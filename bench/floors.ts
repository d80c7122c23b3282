/**
 * Reusable floors for shoal's benches: what the machine itself costs, measured in the same run as the
 * thing being benched, so that a figure is read as a ratio to its floor rather than as an absolute.
 *
 * Stable API (other benches import it; add, don't change):
 *
 * - `percentiles(samples)` → {@link Stats} (n, min, mean, median, p90, p99, max; same unit as the samples).
 * - `measure(n, fn, {warmup})` → {@link Stats} of `fn`'s wall time in ms over n sequential calls.
 * - `throughput(durationMs, concurrency, fn)` → {@link Throughput}: calls per second with that many
 *   callers in a loop, plus the latency Stats of all calls.
 * - `fsyncFloor({dir, n, bytes})` → Stats (ms) of one raw `write` + `fsync` on a file in dir.
 * - `sqliteCommitFloor({dir, n})` → Stats (ms) of one autocommit INSERT, WAL, `synchronous=FULL`.
 * - `tlsRoundTripFloor({host, n})` → Stats (ms) of one small request/echo over an established loopback
 *   mutual-TLS connection (node:tls, ECDSA P-384 certificates from lib/tls, client certificate requested
 *   and presented), and `tlsHandshakeFloor({host, n})` for a full connect + handshake + one echo.
 * - `formatStats(label, stats, unit)` / `printRows(rows)`: one aligned line per figure.
 *
 * Every network floor binds only to a loopback address (127.0.0.1 by default).
 * @module
 */
import tls from "node:tls";
import type { AddressInfo } from "node:net";
import { DatabaseSync } from "node:sqlite";
import { generateKeyPair, type KeyPair } from "../lib/tls/mod.ts";

/** Summary of a sample set; all fields in the samples' unit. */
export interface Stats {
  n: number;
  min: number;
  mean: number;
  median: number;
  p90: number;
  p99: number;
  max: number;
}

/** Result of a throughput run. */
export interface Throughput {
  /** Completed calls per second. */
  perSecond: number;
  /** Latency of every completed call, ms. */
  latency: Stats;
  concurrency: number;
  durationMs: number;
}

/** Nearest-rank percentiles of samples (not modified). Empty input gives NaN everywhere. */
export function percentiles(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  const at = (p: number) => s[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))] ?? NaN;
  return {
    n,
    min: s[0] ?? NaN,
    mean: n ? s.reduce((a, b) => a + b, 0) / n : NaN,
    median: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: s[n - 1] ?? NaN,
  };
}

/** Wall time of n sequential calls of fn, in ms, after `warmup` untimed calls (default n/10). */
export async function measure(
  n: number,
  fn: () => unknown | Promise<unknown>,
  o: { warmup?: number } = {},
): Promise<Stats> {
  const warm = o.warmup ?? Math.ceil(n / 10);
  for (let i = 0; i < warm; i++) await fn();
  const samples: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    samples[i] = performance.now() - t0;
  }
  return percentiles(samples);
}

/** Calls fn from `concurrency` loops for durationMs; counts completions and their latencies. */
export async function throughput(
  durationMs: number,
  concurrency: number,
  fn: () => Promise<unknown>,
): Promise<Throughput> {
  const samples: number[] = [];
  const start = performance.now();
  const end = start + durationMs;
  const loop = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await fn();
      samples.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsed = performance.now() - start;
  return {
    perSecond: samples.length / (elapsed / 1000),
    latency: percentiles(samples),
    concurrency,
    durationMs,
  };
}

async function scratchDir(dir?: string): Promise<{ path: string; owned: boolean }> {
  if (dir) return { path: dir, owned: false };
  return { path: await Deno.makeTempDir({ prefix: "shoal-floor-" }), owned: true };
}

/** One raw write of `bytes` (default 100) followed by fsync, n times (default 500), in dir (default a temp dir). */
export async function fsyncFloor(o: { dir?: string; n?: number; bytes?: number } = {}): Promise<Stats> {
  const d = await scratchDir(o.dir);
  const path = `${d.path}/fsync-floor-${crypto.randomUUID()}`;
  const f = Deno.openSync(path, { write: true, create: true, truncate: true });
  const buf = new Uint8Array(o.bytes ?? 100).fill(120);
  try {
    return await measure(o.n ?? 500, () => {
      f.writeSync(buf);
      f.syncSync();
    });
  } finally {
    f.close();
    await Deno.remove(d.owned ? d.path : path, { recursive: true });
  }
}

/** One autocommit INSERT of a 200-byte value, WAL + synchronous=FULL, n times (default 300). */
export async function sqliteCommitFloor(o: { dir?: string; n?: number } = {}): Promise<Stats> {
  const d = await scratchDir(o.dir);
  const path = `${d.path}/commit-floor-${crypto.randomUUID()}.db`;
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL");
    db.exec("CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT)");
    const ins = db.prepare("INSERT INTO kv (v) VALUES (?)");
    const v = "x".repeat(200);
    return await measure(o.n ?? 300, () => ins.run(v));
  } finally {
    db.close();
    if (d.owned) await Deno.remove(d.path, { recursive: true });
    else for (const s of ["", "-wal", "-shm"]) await Deno.remove(path + s).catch(() => {});
  }
}

let pairs: Promise<{ server: KeyPair; client: KeyPair }> | null = null;

/** A server and a client key pair as shoal makes them (generated once per process). */
export function benchKeyPairs(): Promise<{ server: KeyPair; client: KeyPair }> {
  pairs ??= (async () => ({
    server: await generateKeyPair({
      cn: "bench@server",
      kind: "server",
      dns: ["localhost"],
      ips: ["127.0.0.1"],
    }),
    client: await generateKeyPair({ cn: "bench@client", kind: "client" }),
  }))();
  return pairs;
}

/** A node:tls echo server asking for client certificates, like shoal's HTTPS listener. */
async function echoServer(host: string): Promise<{ port: number; close: () => Promise<void> }> {
  const { server: sp } = await benchKeyPairs();
  const server = tls.createServer(
    { cert: sp.cert, key: sp.key, requestCert: true, rejectUnauthorized: false },
    (s) => {
      s.on("data", (d) => s.write(d));
      s.on("error", () => {});
    },
  );
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function connect(
  host: string,
  port: number,
  pairsIn: { server: KeyPair; client: KeyPair },
): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host,
      port,
      cert: pairsIn.client.cert,
      key: pairsIn.client.key,
      ca: pairsIn.server.cert,
      checkServerIdentity: () => undefined,
    }, () => resolve(s));
    s.once("error", reject);
  });
}

function echo(s: tls.TLSSocket, msg: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    let got = 0;
    const on = (d: Uint8Array) => {
      got += d.length;
      if (got >= msg.length) {
        s.off("data", on);
        resolve();
      }
    };
    s.on("data", on);
    s.write(msg);
  });
}

/** One 100-byte echo over an established loopback mutual-TLS connection, n times (default 2000). */
export async function tlsRoundTripFloor(o: { host?: string; n?: number } = {}): Promise<Stats> {
  const host = o.host ?? "127.0.0.1";
  const srv = await echoServer(host);
  const s = await connect(host, srv.port, await benchKeyPairs());
  const msg = new Uint8Array(100).fill(97);
  try {
    return await measure(o.n ?? 2000, () => echo(s, msg));
  } finally {
    s.destroy();
    await srv.close();
  }
}

/** A fresh loopback mutual-TLS connection (TCP + handshake) plus one echo, n times (default 200). */
export async function tlsHandshakeFloor(o: { host?: string; n?: number } = {}): Promise<Stats> {
  const host = o.host ?? "127.0.0.1";
  const srv = await echoServer(host);
  const kp = await benchKeyPairs();
  const msg = new Uint8Array(100).fill(97);
  try {
    return await measure(o.n ?? 200, async () => {
      const s = await connect(host, srv.port, kp);
      await echo(s, msg);
      s.destroy();
    });
  } finally {
    await srv.close();
  }
}

function num(x: number): string {
  if (!Number.isFinite(x)) return "-";
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(3);
}

/** One line: `label  median M  p90 X  p99 Y  (n=N) unit`. */
export function formatStats(label: string, s: Stats, unit = "ms"): string {
  return `${label.padEnd(44)} median ${num(s.median).padStart(8)}  p90 ${num(s.p90).padStart(8)}  p99 ${
    num(s.p99).padStart(8)
  } ${unit}  (n=${s.n})`;
}

/** Prints rows of cells as aligned columns (first row is the header). */
export function printRows(rows: string[][]): void {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  for (const r of rows) {
    console.log(r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  "));
  }
}

if (import.meta.main) {
  console.log(formatStats("raw write(100 B) + fsync", await fsyncFloor()));
  console.log(formatStats("SQLite autocommit, WAL, synchronous=FULL", await sqliteCommitFloor()));
  console.log(formatStats("loopback mTLS echo (established)", await tlsRoundTripFloor()));
  console.log(formatStats("loopback mTLS connect + handshake + echo", await tlsHandshakeFloor()));
}
