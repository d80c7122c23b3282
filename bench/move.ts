/**
 * Moving a stopped container between members: two shoal members (127.0.0.140 and 127.0.0.149,
 * dir pool), a busybox container with SIZE MiB of random bytes added to its root filesystem,
 * moved back and forth RUNS times with the real lxc client (`lxc move c --target mN`, the
 * command's wall time: request, tar stream over the members' mutual TLS, commit, source dropped).
 * Floors in the same run, on the same volume: its bytes as tar over one loopback mutual-TLS
 * connection into tar -x (the stream alone, no API, no database), and `cp -a` of the volume on
 * the same disk. LXD side by side when Debian's lxd forms a cluster here (otherwise says why).
 *
 * Run: `deno run -A bench/move.ts` (or `deno task bench move`) inside a network namespace of its
 * own. Env: SIZE (MiB, default 50), RUNS (default 10).
 * @module
 */
import { formCluster } from "../tests/helpers/cluster.ts";
import { type Member, run, tempDir } from "../tests/helpers/member.ts";
import { busyboxImage, PRESEED } from "../tests/compat/instances_helpers.ts";
import { benchKeyPairs, formatStats, percentiles, type Stats } from "./floors.ts";
import { startLxdCluster } from "./lxd.ts";

const SIZE = Number(Deno.env.get("SIZE") ?? 50);
const RUNS = Number(Deno.env.get("RUNS") ?? 10);
const ADDRESSES = ["127.0.0.140", "127.0.0.149"];
Deno.env.set("SHOAL_BENCH", "1");

async function must(cmd: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  const r = await run(cmd, args, { env });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
}

/** RUNS moves back and forth between two members; ms each. */
async function moves(
  env: Record<string, string>,
  names: [string, string],
  volumeOf: (member: string) => string,
): Promise<Stats> {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const to = names[(i + 1) % 2]!;
    const t0 = performance.now();
    await must("lxc", ["move", "c", "--target", to], env);
    samples.push(performance.now() - t0);
    await Deno.stat(volumeOf(to)); // it is there
  }
  return percentiles(samples);
}

/** The volume as tar over one loopback mutual-TLS connection into tar -x; ms each. */
async function tlsFloor(src: string, scratch: string): Promise<Stats> {
  const { server, client } = await benchKeyPairs();
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const dst = `${scratch}/tls${i}`;
    await Deno.mkdir(dst, { recursive: true });
    const listener = Deno.listenTls({ hostname: ADDRESSES[0]!, port: 0, cert: server.cert, key: server.key });
    const port = (listener.addr as Deno.NetAddr).port;
    const t0 = performance.now();
    const received = (async () => {
      const conn = await listener.accept();
      const x = new Deno.Command("tar", { args: ["--numeric-owner", "-C", dst, "-xf", "-"], stdin: "piped" })
        .spawn();
      await conn.readable.pipeTo(x.stdin);
      if (!(await x.status).success) throw new Error("tar -x failed");
    })();
    const conn = await Deno.connectTls({
      hostname: ADDRESSES[0]!,
      port,
      caCerts: [server.cert],
      cert: client.cert,
      key: client.key,
      unsafelyDisableHostnameVerification: true,
    } as Deno.ConnectTlsOptions);
    const c = new Deno.Command("tar", {
      args: ["--numeric-owner", "-C", src, "-cf", "-", "."],
      stdout: "piped",
    })
      .spawn();
    await c.stdout.pipeTo(conn.writable);
    await received;
    samples.push(performance.now() - t0);
    listener.close();
    await Deno.remove(dst, { recursive: true });
  }
  return percentiles(samples);
}

/** cp -a of the volume on the same disk; ms each. */
async function cpFloor(src: string, scratch: string): Promise<Stats> {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const dst = `${scratch}/cp${i}`;
    const t0 = performance.now();
    await must("cp", ["-a", "--", src, dst]);
    samples.push(performance.now() - t0);
    await Deno.remove(dst, { recursive: true });
  }
  return percentiles(samples);
}

await using tmp = await tempDir("bench-move");
let members: Member[] = [];
const rows: string[] = [];
try {
  members = await formCluster(tmp.path, ADDRESSES, { preseed: PRESEED });
  const [m1] = members as [Member, Member];
  const env = { LXD_DIR: m1.dir };
  const image = await busyboxImage(tmp.path);
  await must("lxc", ["image", "import", image, "--alias", "bb"], env);
  await must("lxc", ["init", "bb", "c", "--target", "m1"], env);
  const vol = (m: string) => `${tmp.path}/${m}/storage-pools/default/containers/c`;
  await must("dd", [
    "if=/dev/urandom",
    `of=${vol("m1")}/rootfs/blob`,
    "bs=1M",
    `count=${SIZE}`,
    "status=none",
  ]);
  const bytes = Number((await run("du", ["-sb", vol("m1")])).stdout.split("\t")[0]);
  const shoal = await moves(env, ["m1", "m2"], vol);
  // The floors read the same volume, wherever the moves left it.
  const at = await Deno.stat(vol("m1")).then(() => "m1", () => "m2");
  const scratch = `${tmp.path}/floor`;
  const tls = await tlsFloor(vol(at), scratch);
  const cp = await cpFloor(vol(at), scratch);
  const mbs = (s: Stats) => (bytes / 1e6 / (s.median / 1000)).toFixed(1);
  rows.push(`stopped container with ${(bytes / 1e6).toFixed(1)} MB of root filesystem, ${RUNS} runs`);
  rows.push(`${formatStats("shoal: lxc move c --target (m1 <-> m2)", shoal)}  = ${mbs(shoal)} MB/s`);
  rows.push(`${formatStats("floor: tar over one loopback mTLS link", tls)}  = ${mbs(tls)} MB/s`);
  rows.push(`${formatStats("floor: cp -a on the same disk", cp)}  = ${mbs(cp)} MB/s`);
} finally {
  await Promise.allSettled(members.map((m) => m.stop()));
}

// LXD side by side: the same container moved between two members of a Debian lxd cluster.
await using ltmp = await tempDir("bench-move-lxd");
const lxd = await startLxdCluster(ltmp.path, ADDRESSES);
if (typeof lxd === "string") {
  rows.push(`LXD: not measured (${lxd})`);
} else {
  try {
    const [l1] = lxd.members as [typeof lxd.members[0]];
    const lenv = l1!.env;
    for (const m of ["l1", "l2"]) {
      await must("lxc", ["storage", "create", "default", "dir", "--target", m], lenv);
    }
    await must("lxc", ["storage", "create", "default", "dir"], lenv);
    await must(
      "lxc",
      ["profile", "device", "add", "default", "root", "disk", "path=/", "pool=default"],
      lenv,
    );
    await must("lxc", ["image", "import", `${tmp.path}/busybox.tar.gz`, "--alias", "bb"], lenv).catch(
      async () => {
        await must("lxc", ["image", "import", await busyboxImage(ltmp.path), "--alias", "bb"], lenv);
      },
    );
    await must("lxc", ["init", "bb", "c", "--target", "l1"], lenv);
    const vol = (m: string) => `${ltmp.path}/${m}/lxd/storage-pools/default/containers/c`;
    await must("dd", [
      "if=/dev/urandom",
      `of=${vol("l1")}/rootfs/blob`,
      "bs=1M",
      `count=${SIZE}`,
      "status=none",
    ]);
    const s = await moves(lenv, ["l1", "l2"], vol);
    rows.push(`${formatStats(`${lxd.version}: lxc move c --target (l1 <-> l2)`, s)}`);
  } catch (e) {
    rows.push(`LXD: not measured (${(e as Error).message.split("\n")[0]})`);
  } finally {
    await lxd.stop();
  }
}
for (const r of rows) console.log(r);
