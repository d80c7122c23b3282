/**
 * Container launch on a managed bridge until its address is leased (issue's goal: 1.5 s), through
 * the real lxc client, with a member in a network namespace the bench makes (its bridge, NAT and
 * dnsmasq stay there):
 *
 * - shoal: `lxc launch bb cN` with the default profile's eth0 on lxdbr0 (the preseed's), timed
 *   until `lxc list` shows cN's IPv4 (polled every 20 ms); also the launch command alone;
 * - the floor: liblxc's tools alone on the same bridge, dnsmasq and image: `tar -x` + a veth
 *   config + `lxc-start -d`, timed until the container has the address on eth0 (busybox udhcpc
 *   at boot, as in shoal's containers), polled the same way;
 * - LXD: Debian's `lxd` (5.0.2) when installed, in a namespace of its own with the same preseed
 *   (its own lxdbr0 and dnsmasq), image and polling: said so when it is not installed.
 *
 * Run: `deno task bench network_launch` (as root, in a namespace of your own: nsrun NAME ...).
 * Env: ROUNDS (default 10).
 * @module
 */
import { formatStats, percentiles } from "./floors.ts";
import { dhcpBusyboxImage } from "../tests/helpers/dhcp_image.ts";
import { Member, type Run, run } from "../tests/helpers/member.ts";
import { inNetns, NetnsSet, nsCmd, uniquePrefix } from "../tests/helpers/netns.ts";
import { NETWORK_PRESEED as PRESEED } from "../tests/compat/instances_helpers.ts";

const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 10);
const POLL_MS = 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function must(p: Promise<{ code: number; stderr: string }>, what: string): Promise<void> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed: ${r.stderr}`);
}

/** Polls until got() gives a value; the time it took from t0, in ms. */
async function until(t0: number, what: string, got: () => Promise<string | null>): Promise<number> {
  const deadline = t0 + 30_000;
  for (;;) {
    if (await got()) return performance.now() - t0;
    if (performance.now() > deadline) throw new Error(`${what}: nothing within 30 s`);
    await sleep(POLL_MS);
  }
}

type Lxc = (args: string[]) => Promise<Run>;

async function rounds(lxc: Lxc): Promise<{ leased: number[]; launch: number[] }> {
  const leased: number[] = [];
  const launch: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const name = `c${i}`;
    const t0 = performance.now();
    await must(lxc(["launch", "bb", name, "-q"]), `lxc launch ${name}`);
    launch.push(performance.now() - t0);
    leased.push(
      await until(t0, `${name}'s IPv4 in lxc list`, async () => {
        const r = await lxc(["list", name, "-c", "4", "--format", "csv"]);
        return /\d+\.\d+\.\d+\.\d+/.exec(r.stdout)?.[0] ?? null;
      }),
    );
    await must(lxc(["delete", "--force", name]), `lxc delete ${name}`);
  }
  return { leased, launch };
}

/** The same with liblxc's tools: a veth on the member's bridge, leased by the member's dnsmasq. */
async function floorRounds(ns: string, dir: string, image: string): Promise<number[]> {
  const lxcpath = `${dir}/floor`;
  await Deno.mkdir(lxcpath, { recursive: true });
  const out: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const name = `f${i}`;
    const d = `${lxcpath}/${name}`;
    const t0 = performance.now();
    await Deno.mkdir(d);
    await must(nsCmd(ns, "tar", ["-xzf", image, "-C", d, "--numeric-owner", "-p"]), "tar");
    await Deno.writeTextFile(
      `${d}/config`,
      [
        `lxc.uts.name = ${name}`,
        `lxc.rootfs.path = dir:${d}/rootfs`,
        "lxc.net.0.type = veth",
        "lxc.net.0.link = lxdbr0",
        "lxc.net.0.name = eth0",
        `lxc.net.0.hwaddr = 00:16:3e:aa:bb:${i.toString(16).padStart(2, "0")}`,
        "lxc.apparmor.profile = unconfined",
        "lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed",
        "lxc.autodev = 1",
        "lxc.tty.max = 0",
        `lxc.console.logfile = ${d}/console.log`,
        "",
      ].join("\n"),
    );
    await must(nsCmd(ns, "lxc-start", ["-P", lxcpath, "-n", name, "-d"]), "lxc-start");
    out.push(
      await until(t0, `${name}'s address`, async () => {
        const r = await nsCmd(ns, "lxc-attach", [
          "-P",
          lxcpath,
          "-n",
          name,
          "--",
          "ip",
          "-4",
          "addr",
          "show",
          "eth0",
        ], {
          check: false,
        });
        return /inet \d+/.test(r.stdout) ? r.stdout : null;
      }),
    );
    await nsCmd(ns, "lxc-stop", ["-P", lxcpath, "-n", name, "-k"], { check: false });
    await Deno.remove(d, { recursive: true });
  }
  return out;
}

/** The same rounds against Debian's LXD, in a namespace of its own; a string says why not. */
async function lxd(set: NetnsSet, tmp: string): Promise<{ leased: number[]; launch: number[] } | string> {
  if ((await run("sh", ["-c", "command -v lxd"])).code !== 0) return "not installed here";
  const ns = await set.add("lxd", { localnet: true });
  const dir = `${tmp}/lxd`;
  await Deno.mkdir(dir, { recursive: true });
  const env = { LXD_DIR: dir, LXD_CONF: `${tmp}/lxd.conf`, HOME: `${tmp}/lxd.conf` };
  const daemon = new Deno.Command("ip", {
    args: ["netns", "exec", ns, "sh", "-c", `exec lxd --group root >"${tmp}/lxd.log" 2>&1`],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const ready = await run("lxd", ["waitready", "--timeout", "60"], { env, timeoutMs: 70_000 });
    if (ready.code !== 0) {
      const tail = (await Deno.readTextFile(`${tmp}/lxd.log`).catch(() => "")).trim().split("\n").slice(-3);
      return `could not run here: ${ready.stderr.trim()} ${tail.join(" / ")}`;
    }
    const init = await run("lxd", ["init", "--preseed"], { env, stdin: PRESEED });
    if (init.code !== 0) return `could not run here: lxd init: ${init.stderr.trim()}`;
    const lxc: Lxc = (args) => run("lxc", args, { env });
    const imp = await lxc(["image", "import", `${tmp}/bb-dhcp.tar.gz`, "--alias", "bb"]);
    if (imp.code !== 0) return `could not run here: image import: ${imp.stderr.trim()}`;
    return await rounds(lxc).catch((e) => `could not run here: ${e instanceof Error ? e.message : e}`);
  } finally {
    await run("lxd", ["shutdown", "--timeout", "60"], { env, timeoutMs: 70_000 }).catch(() => {});
    daemon.kill("SIGKILL");
    await daemon.status.catch(() => {});
  }
}

if (import.meta.main) {
  const tmp = await Deno.makeTempDir({ prefix: "shoal-bench-netlaunch-" });
  await Deno.chmod(tmp, 0o755);
  const set = new NetnsSet(uniquePrefix("snb"));
  let m: Member | null = null;
  try {
    const ns = await set.add("m1", { localnet: true });
    m = await new Member(`${tmp}/m1`, "m1", {}, inNetns(ns, "env"), { debug: false }).start();
    await must(m.shoald(["init", "--preseed"], { stdin: PRESEED }), "preseed");
    const image = await dhcpBusyboxImage(tmp);
    await must(m.lxc(["image", "import", image, "--alias", "bb"]), "image import");
    console.log(`network launch: ${ROUNDS} rounds; a busybox container with udhcpc at boot on lxdbr0`);
    const floor = await floorRounds(ns, tmp, `${tmp}/bb-dhcp.tar.gz`);
    console.log(formatStats("floor (liblxc + dnsmasq): start to address", percentiles(floor)));
    const member = m;
    const s = await rounds((args) => member.lxc(args));
    console.log(formatStats("shoal: lxc launch until IPv4 in lxc list", percentiles(s.leased)));
    console.log(formatStats("shoal: lxc launch (command alone)", percentiles(s.launch)));
    await m.stop();
    m = null;
    const l = await lxd(set, tmp);
    if (typeof l === "string") console.log(`LXD: ${l}`);
    else {
      console.log(formatStats("LXD 5.0.2: lxc launch until IPv4 in lxc list", percentiles(l.leased)));
      console.log(formatStats("LXD 5.0.2: lxc launch (command alone)", percentiles(l.launch)));
    }
  } finally {
    await m?.stop().catch(() => {});
    await set.dispose();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
