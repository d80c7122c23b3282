/**
 * Evacuation and healing (issue 13). Three shoal members on 127.0.0.238-240 (dir pool), ten
 * running busybox containers on m2: `lxc cluster evacuate m2 --force` (each stopped cleanly,
 * moved whole to the least loaded member, started there) and `lxc cluster restore m2 --force`
 * (each stopped, moved back, started), RUNS times, the real lxc's wall time. Floor in the same
 * run: `lxc stop` then `lxc start` of the same ten where they are (what evacuation costs without
 * the moves). LXD side by side when Debian's lxd forms a cluster here, the same ten containers.
 *
 * Healing: three members in network namespaces of their own (127.0.0.241-243) sharing one
 * directory as their pool's source, cluster.fence_time 3 s and cluster.healing_threshold 13 s.
 * The member holding a running container is killed whole (its daemon and its containers: every
 * process of its namespace, as a machine that dies), and the time from the kill to the container
 * running on another member is measured (liblxc asked inside each namespace every 50 ms), beside
 * the threshold it cannot beat. LXD 5.0's healing is not measured: it restarts instances of a
 * lost member only on shared storage (ceph), which these machines lack.
 *
 * Run: `deno run -A bench/evacuate.ts` (or `deno task bench evacuate`) inside a network
 * namespace of its own (nsrun). Env: N (containers, default 10), RUNS (default 3).
 * @module
 */
import { formCluster, joinMember, leaderOf } from "../tests/helpers/cluster.ts";
import { Member, run, tempDir, waitFor } from "../tests/helpers/member.ts";
import { inNetns, NetnsSet, nsCmd, uniquePrefix } from "../tests/helpers/netns.ts";
import { busyboxImage, PRESEED, stopContainers } from "../tests/compat/instances_helpers.ts";
import { formatStats, percentiles, type Stats } from "./floors.ts";
import { startLxdCluster } from "./lxd.ts";

const N = Number(Deno.env.get("N") ?? 10);
const RUNS = Number(Deno.env.get("RUNS") ?? 3);
const ADDRESSES = ["127.0.0.238", "127.0.0.239", "127.0.0.240"];
const HEAL_ADDRESSES = ["127.0.0.241", "127.0.0.242", "127.0.0.243"];
const NAMES = Array.from({ length: N }, (_, i) => `c${i + 1}`);
Deno.env.set("SHOAL_BENCH", "1");

async function must(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await run(cmd, args, { env });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** RUNS evacuations and restores of `member` with the real lxc; ms each, and the floor. */
async function evacuations(env: Record<string, string>, member: string): Promise<Stats[]> {
  const evac: number[] = [], restore: number[] = [], floor: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    evac.push(await timed(() => must("lxc", ["cluster", "evacuate", member, "--force"], env)));
    restore.push(await timed(() => must("lxc", ["cluster", "restore", member, "--force"], env)));
    floor.push(
      await timed(async () => {
        await must("lxc", ["stop", ...NAMES], env);
        await must("lxc", ["start", ...NAMES], env);
      }),
    );
  }
  return [percentiles(evac), percentiles(restore), percentiles(floor)];
}

/** Where each container runs (csv: name,status,location); throws unless all run on `where`. */
async function allRunningOn(env: Record<string, string>, where: string): Promise<void> {
  const csv = await must("lxc", ["list", "--format", "csv", "-c", "nsL"], env);
  const bad = csv.trim().split("\n").filter((l) => !l.endsWith(`,RUNNING,${where}`));
  if (bad.length > 0) throw new Error(`not all running on ${where}: ${bad.join(" ")}`);
}

const rows: string[] = [];

// 1. evacuation of N running containers, shoal
{
  await using tmp = await tempDir("bench-evac");
  let members: Member[] = [];
  try {
    members = await formCluster(tmp.path, ADDRESSES, { preseed: PRESEED });
    const env = { LXD_DIR: members[0]!.dir };
    await must("lxc", ["image", "import", await busyboxImage(tmp.path), "--alias", "bb"], env);
    for (const c of NAMES) await must("lxc", ["launch", "bb", c, "--target", "m2"], env);
    await allRunningOn(env, "m2");
    const [evac, restore, floor] = await evacuations(env, "m2") as [Stats, Stats, Stats];
    await allRunningOn(env, "m2");
    rows.push(`evacuation of ${N} running containers (stop, move, start elsewhere), ${RUNS} runs`);
    rows.push(formatStats("shoal: lxc cluster evacuate m2", evac));
    rows.push(formatStats("shoal: lxc cluster restore m2", restore));
    rows.push(formatStats(`floor: lxc stop + lxc start of the ${N} in place`, floor));
  } finally {
    for (const m of members) await stopContainers(m.dir);
    await Promise.allSettled(members.map((m) => m.stop()));
  }
}

// 2. the same with Debian's LXD
{
  await using ltmp = await tempDir("bench-evac-lxd");
  const lxd = await startLxdCluster(ltmp.path, ADDRESSES);
  if (typeof lxd === "string") {
    rows.push(`LXD: not measured (${lxd})`);
  } else {
    try {
      const env = lxd.members[0]!.env;
      for (const m of ["l1", "l2", "l3"]) {
        await must("lxc", ["storage", "create", "default", "dir", "--target", m], env);
      }
      await must("lxc", ["storage", "create", "default", "dir"], env);
      await must(
        "lxc",
        ["profile", "device", "add", "default", "root", "disk", "path=/", "pool=default"],
        env,
      );
      await must("lxc", ["image", "import", await busyboxImage(ltmp.path), "--alias", "bb"], env);
      for (const c of NAMES) await must("lxc", ["launch", "bb", c, "--target", "l2"], env);
      await allRunningOn(env, "l2");
      const [evac, restore, floor] = await evacuations(env, "l2") as [Stats, Stats, Stats];
      rows.push(formatStats(`${lxd.version}: lxc cluster evacuate l2`, evac));
      rows.push(formatStats(`${lxd.version}: lxc cluster restore l2`, restore));
      rows.push(formatStats(`${lxd.version} floor: stop + start in place`, floor));
    } catch (e) {
      rows.push(`LXD: not measured (${(e as Error).message.split("\n")[0]})`);
    } finally {
      try {
        await must("lxc", ["stop", "--all", "--force"], lxd.members[0]!.env);
      } catch { /* down already */ }
      await lxd.stop();
    }
  }
}

// 3. healing: from the kill of a member to its container running elsewhere
{
  await using tmp = await tempDir("bench-heal");
  await using set = new NetnsSet(uniquePrefix("bh"));
  await set.star(HEAL_ADDRESSES);
  const wrap = (name: string) => inNetns(set.name(name), "env");
  const shared = `${tmp.path}/shared`;
  await Deno.mkdir(shared, { mode: 0o755 });
  await Deno.chmod(tmp.path, 0o755);
  const members: Member[] = [];
  const heals: number[] = [];
  try {
    const m1 = new Member(`${tmp.path}/m1`, "m1", undefined, wrap("m1"));
    await m1.start();
    members.push(m1);
    const boot = await m1.shoald(["init", "--preseed"], {
      stdin:
        `config:\n  core.https_address: "${
          HEAL_ADDRESSES[0]
        }:8443"\ncluster:\n  server_name: m1\n  enabled: true\n` +
        `storage_pools:\n- name: default\n  driver: dir\n  config:\n    source: ${shared}\n` +
        `profiles:\n- name: default\n  devices:\n    root:\n      path: /\n      pool: default\n      type: disk\n`,
    });
    if (boot.code !== 0) throw new Error(boot.stderr);
    const join = async (i: number) =>
      members.push(
        await joinMember(
          tmp.path,
          m1,
          `m${i}`,
          HEAL_ADDRESSES[i - 1]!,
          undefined,
          wrap(`m${i}`),
          `  member_config:\n  - entity: storage-pool\n    name: default\n    key: source\n    value: ${shared}\n`,
        ),
      );
    await join(2);
    await join(3);
    const sh = (args: string[]) =>
      m1.shoal(args).then((r) => {
        if (r.code !== 0) throw new Error(`shoal ${args.join(" ")}: ${r.stderr}`);
        return r.stdout;
      });
    await sh(["config", "set", "cluster.fence_time=3", "cluster.healing_threshold=13"]);
    await sh(["image", "import", await busyboxImage(tmp.path), "--alias", "bb"]);
    const leader = await leaderOf(members, m1);
    const runsOn = async (m: Member, c: string) =>
      /RUNNING/.test(
        (await nsCmd(set.name(m.name), "lxc-info", ["-P", `${m.dir}/containers`, "-n", c, "-s"], {
          check: false,
        }))
          .stdout,
      );
    // one kill: the cluster then has two members left and no margin for a second
    {
      const victim = members.find((m) => m !== leader)!;
      const c = "h1";
      await sh(["launch", "bb", c, "--target", victim.name]);
      await waitFor("the container running on the victim", () => runsOn(victim, c), 30_000);
      const t0 = performance.now();
      await set.sweep(set.name(victim.name)); // the machine dies: its daemon and its containers
      const alive = members.filter((m) => m !== victim);
      await waitFor(
        "the container running elsewhere",
        async () => {
          for (const m of alive) if (await runsOn(m, c)) return true;
          return false;
        },
        90_000,
        50,
      );
      heals.push(performance.now() - t0);
    }
    const s = percentiles(heals);
    rows.push(`healing: a member holding a running container killed whole (fence 3 s, threshold 13 s)`);
    rows.push(formatStats("shoal: kill -> running on another member", s));
    rows.push(`floor: cluster.healing_threshold                 13000 ms (healing may not start sooner)`);
  } catch (e) {
    rows.push(`healing: not measured (${(e as Error).message.split("\n")[0]})`);
  } finally {
    await set.stopContainers(members);
    await Promise.allSettled(members.map((m) => m.stop()));
  }
}
for (const r of rows) console.log(r);
