/**
 * Image replication between members: two shoal members (127.0.0.144-145, dir pool), the busybox
 * image with SIZE MiB of random bytes added, imported through m1 with
 * cluster.images_minimal_replica=-1. Measured: the time from the import's end to the file being
 * whole in m2's store (m2 pulls it over the members' mutual TLS, SHA-256 checked, started by the
 * import's relayed image-created event), as MB/s, beside the floor: curl fetching the same export from m1
 * with m2's certificate over the same link to /dev/null.
 *
 * Run: `deno run -A bench/images.ts` (or `deno task bench images`) inside a network namespace of
 * its own. Env: SIZE (MiB, default 64), RUNS (default 3).
 * @module
 */
import { formCluster } from "../tests/helpers/cluster.ts";
import { type Member, run, tempDir } from "../tests/helpers/member.ts";
import { busyboxImage, PRESEED } from "../tests/compat/instances_helpers.ts";
import { formatStats, percentiles } from "./floors.ts";

const SIZE = Number(Deno.env.get("SIZE") ?? 64);
const RUNS = Number(Deno.env.get("RUNS") ?? 3);
const ADDRESSES = ["127.0.0.144", "127.0.0.145"];
Deno.env.set("SHOAL_BENCH", "1");

async function sha256(path: string): Promise<string> {
  const r = await run("sha256sum", [path]);
  return r.stdout.slice(0, 64);
}

async function bigImage(dir: string, i: number): Promise<string> {
  const base = await busyboxImage(dir);
  const work = `${dir}/img${i}`;
  await Deno.mkdir(work, { recursive: true });
  const must = async (cmd: string, args: string[]) => {
    const r = await run(cmd, args);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  };
  await must("tar", ["-xzf", base, "-C", work]);
  await must("dd", ["if=/dev/urandom", `of=${work}/rootfs/blob`, "bs=1M", `count=${SIZE}`, "status=none"]);
  const out = `${dir}/big${i}.tar`;
  await must("tar", ["-cf", out, "-C", work, "."]);
  await Deno.remove(work, { recursive: true });
  return out;
}

async function fileIs(path: string, size: number): Promise<boolean> {
  try {
    return (await Deno.stat(path)).size === size;
  } catch {
    return false;
  }
}

await using tmp = await tempDir("bench-images");
let members: Member[] = [];
try {
  members = await formCluster(tmp.path, ADDRESSES, { preseed: PRESEED });
  const [m1, m2] = members as [Member, Member];
  const ok = (m: Member, args: string[]) => m.must(args);
  await ok(m1, ["config", "set", "cluster.images_minimal_replica=-1"]);
  const fetch: number[] = [];
  const floor: number[] = [];
  let bytes = 0;
  for (let i = 0; i < RUNS; i++) {
    const img = await bigImage(tmp.path, i);
    bytes = (await Deno.stat(img)).size;
    const fp = await sha256(img);
    await ok(m1, ["image", "import", img]);
    const t0 = performance.now();
    while (!(await fileIs(`${m2.dir}/images/${fp}`, bytes))) await new Promise((r) => setTimeout(r, 10));
    fetch.push(performance.now() - t0);
    const t1 = performance.now();
    const c = await run("curl", [
      "-sk",
      "--fail",
      "--cert",
      `${m2.dir}/server.crt`,
      "--key",
      `${m2.dir}/server.key`,
      "-o",
      "/dev/null",
      `https://${ADDRESSES[0]}:8443/1.0/images/${fp}/export`,
    ]);
    if (c.code !== 0) throw new Error(`curl export failed: ${c.stderr}`);
    floor.push(performance.now() - t1);
    await Deno.remove(img);
  }
  const mbs = (ms: number) => (bytes / 1e6 / (ms / 1000)).toFixed(1);
  const f = percentiles(fetch);
  const r = percentiles(floor);
  console.log(`image of ${(bytes / 1e6).toFixed(1)} MB, ${RUNS} runs`);
  console.log(formatStats("replication to m2 (import end -> whole file)", f));
  console.log(formatStats("floor: curl export m1 -> /dev/null, m2's cert", r));
  console.log(`replication ${mbs(f.median)} MB/s (median), raw copy ${mbs(r.median)} MB/s (median)`);
} finally {
  await Promise.allSettled(members.map((m) => m.stop()));
}
