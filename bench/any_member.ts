/**
 * Any member serves any instance, measured with the real lxc client on three members, shoal's
 * and (when Debian's lxd runs here) LXD 5.0.2's, formed the same way, each with a dir pool and
 * the busybox image imported through the first member only:
 *
 * - launch with --target of the second member, asked through the first;
 * - exec round trip of `true` through a member that does not own the instance, beside the owner's
 *   own (goal: at most 1.3x), and liblxc's `lxc-attach -- true` alone as the floor;
 * - `lxc list` through the first member with COUNT running containers spread over the three
 *   (goal: at most 0.15 s; LXD 5.0.2 measured here on one member: 1.84 s).
 *
 * Run: `deno run -A bench/any_member.ts` (or `deno task bench any_member`), inside a network
 * namespace of its own. Env: COUNT (default 19), EXECS (default 20), LISTS (default 10),
 * TARGETED (default 5).
 * @module
 */
import { formatStats, percentiles, type Stats } from "./floors.ts";
import { findLxd, LxdDaemon, sh } from "./lxd.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const COUNT = Number(Deno.env.get("COUNT") ?? 19);
const EXECS = Number(Deno.env.get("EXECS") ?? 20);
const LISTS = Number(Deno.env.get("LISTS") ?? 10);
const TARGETED = Number(Deno.env.get("TARGETED") ?? 5);
const SHOAL_ADDRESSES = ["127.0.0.134", "127.0.0.135", "127.0.0.136"];
const LXD_ADDRESSES = ["127.0.0.137", "127.0.0.138", "127.0.0.139"];

/** What a side of the comparison offers: lxc through member i. */
interface Side {
  name: string;
  lxc(i: number, args: string[]): Promise<string>;
  /** The member's lxcpath (for the floor) and its directory. */
  lxcpath(i: number): string;
  stop(): Promise<void>;
}

interface Figures {
  targeted: Stats;
  execOther: Stats;
  execOwner: Stats;
  list: Stats;
  floor: Stats;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function withStdin(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  stdin: string,
): Promise<string> {
  const p = new Deno.Command(cmd, { args, env, stdin: "piped", stdout: "piped", stderr: "piped" }).spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(stdin));
  await w.close();
  const out = await p.output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

async function shoalCluster(tmp: string): Promise<Side> {
  const children: Deno.ChildProcess[] = [];
  const env = (i: number) => ({ SHOAL_DIR: `${tmp}/s${i + 1}`, SHOAL_BENCH: "1" });
  const lxcEnv = (i: number) => ({
    LXD_DIR: `${tmp}/s${i + 1}`,
    LXD_CONF: `${tmp}/s.conf`,
    HOME: `${tmp}/s.conf`,
  });
  const side: Side = {
    name: "shoal",
    lxc: (i, args) => sh("lxc", args, lxcEnv(i)),
    lxcpath: (i) => `${tmp}/s${i + 1}/containers`,
    stop: async () => {
      for (const c of children) {
        try {
          c.kill("SIGTERM");
        } catch { /* gone */ }
        await c.status;
      }
    },
  };
  for (let i = 0; i < 3; i++) {
    await Deno.mkdir(`${tmp}/s${i + 1}`, { recursive: true });
    children.push(
      new Deno.Command(`${ROOT}/bin/shoald`, { env: env(i), stdin: "null", stdout: "null", stderr: "null" })
        .spawn(),
    );
    await sh(`${ROOT}/bin/shoald`, ["waitready", "--timeout", "30"], env(i));
    if (i === 0) {
      await withStdin(
        `${ROOT}/bin/shoald`,
        ["init", "--preseed"],
        env(0),
        `config:\n  core.https_address: ${
          SHOAL_ADDRESSES[0]
        }:8443\ncluster:\n  server_name: m1\n  enabled: true\n` +
          `storage_pools:\n- name: default\n  driver: dir\nprofiles:\n- name: default\n  devices:\n    root:\n      path: /\n      pool: default\n      type: disk\n`,
      );
      continue;
    }
    const token = (await sh(`${ROOT}/bin/shoal`, ["cluster", "add", `m${i + 1}`, "--quiet"], env(0))).trim();
    await withStdin(
      `${ROOT}/bin/shoald`,
      ["init", "--preseed"],
      env(i),
      `cluster:\n  enabled: true\n  server_name: m${i + 1}\n  server_address: ${
        SHOAL_ADDRESSES[i]
      }:8443\n  cluster_token: ${token}\n`,
    );
  }
  return side;
}

async function lxdCluster(tmp: string): Promise<Side | string> {
  const lxd = findLxd();
  if (!lxd) return "Debian's lxd is not installed";
  const members: LxdDaemon[] = [];
  const side: Side = {
    name: "LXD",
    lxc: (i, args) => members[i]!.lxc(args),
    lxcpath: (i) => `${tmp}/l${i + 1}/lxd/containers`,
    stop: async () => {
      await Promise.all(members.map((m) => m.stop()));
    },
  };
  try {
    for (let i = 0; i < 3; i++) {
      const m = await new LxdDaemon(lxd, `${tmp}/l${i + 1}`).start();
      members.push(m);
      if (i === 0) {
        await m.preseed(
          `config:\n  core.https_address: ${
            LXD_ADDRESSES[0]
          }:8443\ncluster:\n  server_name: m1\n  enabled: true\n` +
            `storage_pools:\n- name: default\n  driver: dir\nprofiles:\n- name: default\n  devices:\n    root:\n      path: /\n      pool: default\n      type: disk\n`,
        );
        continue;
      }
      const token = (await members[0]!.lxc(["cluster", "add", `m${i + 1}`])).trim().split("\n").pop()!;
      await m.preseed(
        `cluster:\n  enabled: true\n  server_name: m${i + 1}\n  server_address: ${
          LXD_ADDRESSES[i]
        }:8443\n  cluster_token: ${token}\n  member_config:\n  - entity: storage-pool\n    name: default\n    key: source\n    value: ""\n`,
      );
    }
    return side;
  } catch (e) {
    await side.stop();
    return `could not run here: ${(e as Error).message.split("\n")[0]}`;
  }
}

/** The figures of one side: COUNT containers, TARGETED of them launched with --target m2 through m1. */
async function run(side: Side, image: string): Promise<Figures> {
  await side.lxc(0, ["image", "import", image, "--alias", "bb"]);
  const targeted: number[] = [];
  for (let i = 0; i < TARGETED; i++) {
    targeted.push(await timed(() => side.lxc(0, ["launch", "bb", `t${i}`, "--target", "m2", "-q"])));
  }
  for (let i = TARGETED; i < COUNT; i++) await side.lxc(0, ["launch", "bb", `c${i}`, "-q"]);
  // t0 lives on m2: exec through m3 (not the owner) and through m2 (the owner), interleaved.
  const other: number[] = [];
  const owner: number[] = [];
  for (let i = 0; i < EXECS; i++) {
    other.push(await timed(() => side.lxc(2, ["exec", "t0", "--", "true"])));
    owner.push(await timed(() => side.lxc(1, ["exec", "t0", "--", "true"])));
  }
  const floor: number[] = [];
  for (let i = 0; i < EXECS; i++) {
    floor.push(await timed(() => sh("lxc-attach", ["-P", side.lxcpath(1), "-n", "t0", "--", "true"])));
  }
  const rows = (await side.lxc(0, ["list", "--format", "csv", "-c", "nsL"])).trim().split("\n");
  const running = rows.filter((r) => r.includes(",RUNNING,")).length;
  if (running !== COUNT) throw new Error(`${side.name}: lxc list shows ${running} running of ${COUNT}`);
  const list: number[] = [];
  for (let i = 0; i < LISTS; i++) list.push(await timed(() => side.lxc(0, ["list"])));
  return {
    targeted: percentiles(targeted),
    execOther: percentiles(other),
    execOwner: percentiles(owner),
    list: percentiles(list),
    floor: percentiles(floor),
  };
}

/** Stops every container a side left (they outlive their daemons). */
async function stopContainers(side: Side): Promise<void> {
  for (let i = 0; i < 3; i++) {
    try {
      for await (const e of Deno.readDir(side.lxcpath(i))) {
        await sh("lxc-stop", ["-k", "-P", side.lxcpath(i), "-n", e.name]).catch(() => {});
      }
    } catch { /* none */ }
  }
}

function print(name: string, f: Figures): void {
  console.log(`\n${name}`);
  console.log(formatStats(`launch --target m2 through m1`, f.targeted));
  console.log(formatStats(`exec true through m3 (not the owner)`, f.execOther));
  console.log(formatStats(`exec true through m2 (the owner)`, f.execOwner));
  console.log(
    `  non-owner / owner (medians): ${(f.execOther.median / f.execOwner.median).toFixed(2)}x (goal <= 1.3x)`,
  );
  console.log(formatStats(`floor: lxc-attach -- true (liblxc alone)`, f.floor));
  console.log(formatStats(`lxc list, ${COUNT} running over 3 members`, f.list));
}

const tmp = await Deno.makeTempDir({ prefix: "shoal-bench-any-" });
await Deno.chmod(tmp, 0o755);
try {
  const image = `${tmp}/busybox.tar.gz`;
  await sh(`${ROOT}/scripts/make-busybox-image`, [image]);
  const s = await shoalCluster(tmp);
  try {
    print("shoal, three members", await run(s, image));
  } finally {
    await stopContainers(s);
    await s.stop();
  }
  const l = await lxdCluster(tmp);
  if (typeof l === "string") console.log(`\nLXD: ${l}`);
  else {
    try {
      print("LXD 5.0.2, three members", await run(l, image));
    } catch (e) {
      console.log(`\nLXD: ${(e as Error).message.split("\n")[0]}`);
    } finally {
      await stopContainers(l);
      await l.stop();
    }
  }
} finally {
  await new Deno.Command("sh", {
    args: [
      "-c",
      `for m in $(awk -v d="${tmp}/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m"; done; rm -rf "${tmp}"`,
    ],
  }).output();
}
