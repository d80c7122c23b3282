/**
 * GET /1.0/metrics on a real three-member cluster (127.0.0.170-172), read back with a real
 * Prometheus text parser: LXD's instance metrics of a running container, every member's cluster
 * metrics under its location from one member, a metrics certificate that opens /1.0/metrics and
 * nothing else, and a member killed with -9 shown as not scraped while the others still answer.
 */
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { Caller, newCert } from "../helpers/callers.ts";
import { formCluster } from "../helpers/cluster.ts";
import { tempDir, waitFor } from "../helpers/member.ts";
import { busyboxImage, PRESEED, stopContainers } from "../compat/instances_helpers.ts";

const ADDRESSES = ["127.0.0.170", "127.0.0.171", "127.0.0.172"];

type Parsed = {
  name: string;
  type: string;
  metrics: { labels?: Record<string, string>; value?: string }[];
}[];

async function scrape(socket: string): Promise<{ text: string; families: Map<string, Parsed[number]> }> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  try {
    const r = await fetch("http://shoal/1.0/metrics", { client });
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    const parsed = parsePrometheusTextFormat(text) as Parsed;
    return { text, families: new Map(parsed.map((f) => [f.name, f])) };
  } finally {
    client.close();
  }
}

Deno.test("metrics: LXD's instance metrics and the whole cluster's from one member", async (t) => {
  await using tmp = await tempDir("metrics");
  const image = await busyboxImage(tmp.path);
  const members = await formCluster(tmp.path, ADDRESSES, { preseed: PRESEED });
  const [m1, m2, m3] = members;
  const callers: Caller[] = [];
  try {
    assert.equal((await m1!.shoal(["image", "import", image, "--alias", "bb"])).code, 0);
    const launch = await m1!.shoal(["launch", "bb", "c1"]);
    assert.equal(launch.code, 0, launch.stderr);
    // LXD serves the instance metrics of the member the instance runs on.
    const at = JSON.parse((await m1!.shoal(["query", "/1.0/instances/c1"])).stdout).location;
    const host = members.find((m) => m.name === at)!;

    await t.step("instance metrics with LXD's names, types and labels", async () => {
      const { families } = await scrape(host.socket);
      const cpu = families.get("lxd_cpu_seconds_total");
      assert.equal(cpu?.type, "COUNTER");
      const mine = cpu!.metrics.filter((m) => m.labels?.name === "c1");
      assert.ok(mine.length >= 2, "user and system samples for c1");
      assert.deepEqual(
        { project: mine[0]!.labels!.project, type: mine[0]!.labels!.type },
        { project: "default", type: "container" },
      );
      const avail = families.get("lxd_memory_MemAvailable_bytes");
      assert.equal(avail?.type, "GAUGE");
      assert.ok(Number(avail!.metrics.find((m) => m.labels?.name === "c1")?.value) > 0);
      // Right after the start the container's init may still be on its way into its namespace.
      await waitFor(
        "c1's processes counted",
        async () => {
          const procs = (await scrape(host.socket)).families.get("lxd_procs_total");
          return Number(procs?.metrics.find((m) => m.labels?.name === "c1")?.value) >= 1;
        },
        20_000,
        250,
      );
      assert.ok(
        families.get("lxd_network_receive_bytes_total")?.metrics.some((m) => m.labels?.device === "lo"),
      );
      // c1's root filesystem (a dir pool: the filesystem that holds the member's directory)
      const fs = (k: string) => {
        const f = families.get(`lxd_filesystem_${k}_bytes`);
        assert.equal(f?.type, "GAUGE", k);
        const s = f!.metrics.find((m) => m.labels?.name === "c1");
        assert.ok(s, `lxd_filesystem_${k}_bytes has c1`);
        assert.equal(s.labels!.mountpoint, "/");
        assert.ok(s.labels!.fstype && s.labels!.device, JSON.stringify(s.labels));
        return Number(s.value);
      };
      const [size, free, room] = [fs("size"), fs("free"), fs("avail")];
      assert.ok(size > 0 && free <= size && room <= free, `size ${size} free ${free} avail ${room}`);
      const st = new Deno.Command("stat", { args: ["-f", "-c", "%S %b", host.dir] }).outputSync();
      const [bsize, blocks] = new TextDecoder().decode(st.stdout).trim().split(" ").map(Number);
      assert.equal(size, bsize! * blocks!);
    });

    await t.step("cluster metrics of every member, each under its location", async () => {
      const { families } = await scrape(m1!.socket);
      const where = (name: string) => new Set(families.get(name)?.metrics.map((m) => m.labels?.location));
      for (const name of ["shoal_raft_term", "shoal_raft_commit_index", "shoal_raft_applied_index"]) {
        assert.deepEqual(where(name), new Set(["m1", "m2", "m3"]), name);
      }
      const leader = families.get("shoal_raft_leader")!.metrics.filter((m) => m.value === "1");
      assert.equal(leader.length, 1);
      const lag = families.get("shoal_raft_replication_lag_entries")!.metrics;
      assert.equal(lag.length, 2, "one per follower, from the leader");
      assert.ok(lag.every((m) => m.labels?.location === leader[0]!.labels!.location));
      assert.ok(
        families.get("shoal_api_requests_total")!.metrics.some((m) =>
          m.labels?.route === "/1.0/instances" && m.labels.method === "POST" && m.labels.location === "m1"
        ),
      );
      assert.equal(families.get("shoal_raft_commit_seconds")?.type, "HISTOGRAM");
      assert.equal(families.get("shoal_heartbeat_seconds")?.type, "HISTOGRAM");
      // Any member answers for all.
      const fromM2 = (await scrape(m2!.socket)).families.get("shoal_raft_term");
      assert.deepEqual(new Set(fromM2?.metrics.map((m) => m.labels?.location)), new Set(["m1", "m2", "m3"]));
    });

    await t.step("a metrics certificate opens /1.0/metrics only; an untrusted one nothing", async () => {
      const served = JSON.parse((await m1!.shoal(["query", "/1.0"])).stdout).environment.certificate;
      const [metrics, stranger] = await Promise.all([newCert("scraper"), newCert("stranger")]);
      await m1!.client().request("POST", "/1.0/certificates", {
        body: { name: "scraper", type: "metrics", certificate: metrics.cert },
      });
      const as = (k: typeof metrics) => {
        const c = new Caller(`${ADDRESSES[0]}:8443`, served, k);
        callers.push(c);
        return c;
      };
      const [cm, cs] = [as(metrics), as(stranger)];
      const ok = await cm.send("GET", "/1.0/metrics");
      assert.equal(ok.status, 200);
      assert.ok(parsePrometheusTextFormat(ok.text).length > 10);
      assert.equal((await cm.send("GET", "/1.0/instances")).status, 403);
      assert.equal(JSON.parse((await cm.send("GET", "/1.0")).text).metadata.auth, "untrusted");
      assert.equal((await cs.send("GET", "/1.0/metrics")).status, 403);
      // core.metrics_address: a listener of its own for /1.0/metrics, and nothing else.
      const set = await m1!.shoal(["config", "set", `core.metrics_address=${ADDRESSES[0]}:9100`]);
      assert.equal(set.code, 0, set.stderr);
      const onMetrics = new Caller(`${ADDRESSES[0]}:9100`, served, metrics);
      callers.push(onMetrics);
      const scraped = await onMetrics.send("GET", "/1.0/metrics");
      assert.equal(scraped.status, 200);
      assert.ok(
        parsePrometheusTextFormat(scraped.text).some((f: { name: string }) => f.name === "shoal_raft_term"),
      );
      assert.equal((await onMetrics.send("GET", "/1.0")).status, 404);
      assert.equal((await onMetrics.send("GET", "/1.0/instances")).status, 404);
      assert.equal((await m1!.shoal(["config", "set", "core.metrics_address="])).code, 0);
    });

    await t.step("a member killed with -9 is not scraped; the others still are", async () => {
      await m3!.kill();
      await waitFor(
        "m3 shown as not scraped",
        async () => {
          const { families } = await scrape(m1!.socket);
          const s = families.get("shoal_cluster_member_scraped")!.metrics;
          const of = (n: string) => s.find((m) => m.labels?.location === n)?.value;
          return of("m3") === "0" && of("m2") === "1" && of("m1") === "1";
        },
        30_000,
        500,
      );
    });
  } finally {
    for (const c of callers) c.close();
    for (const m of members) await stopContainers(m.dir);
    for (const m of members) await m.stop();
  }
});
