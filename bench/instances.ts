/**
 * Instance lifecycle latency, driven by the real lxc client (the same binary and the same busybox
 * image for every target, so only the server differs):
 *
 * - shoal: a real `bin/shoald` with a dir pool, over its unix socket;
 * - LXD: Debian's `lxd` started with its own LXD_DIR, when it is installed and runs here;
 * - the floor: liblxc's own tools on the same rootfs, no daemon: `tar -x` + `lxc-start -d` +
 *   `lxc-wait` (launch), `lxc-attach -- true` (exec), `lxc-stop -k` (stop), `rm -rf` (delete).
 *
 * shoal runs its rounds twice: unprivileged containers (the default: an id map, the rootfs
 * idmapped or shifted) and security.privileged=true.
 *
 * Per round: launch, EXECS exec round trips of `true`, stop --force, delete. Medians and p99 over
 * ROUNDS rounds. Run: `deno run -A bench/instances.ts` (or `deno task bench instances`).
 * Env: ROUNDS (default 10), EXECS (default 5).
 * @module
 */
import { formatStats, percentiles, type Stats } from "./floors.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 10);
const EXECS = Number(Deno.env.get("EXECS") ?? 5);

interface Figures {
  launch: number[];
  exec: number[];
  stop: number[];
  delete: number[];
}

async function sh(cmd: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  const out = await new Deno.Command(cmd, { args, env, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}): ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Rounds of launch / exec / stop / delete through the real lxc client against LXD_DIR=dir. */
async function lxcRounds(
  dir: string,
  conf: string,
  prefix: string,
  launchArgs: string[] = [],
): Promise<Figures> {
  const env = { LXD_DIR: dir, LXD_CONF: conf, HOME: conf };
  const f: Figures = { launch: [], exec: [], stop: [], delete: [] };
  for (let i = 0; i < ROUNDS; i++) {
    const name = `${prefix}${i}`;
    f.launch.push(await timed(() => sh("lxc", ["launch", "bb", name, "-q", ...launchArgs], env)));
    for (let j = 0; j < EXECS; j++) {
      f.exec.push(await timed(() => sh("lxc", ["exec", name, "--", "true"], env)));
    }
    f.stop.push(await timed(() => sh("lxc", ["stop", "--force", name], env)));
    f.delete.push(await timed(() => sh("lxc", ["delete", name], env)));
  }
  return f;
}

/** Prepares a server on dir (already running): a dir pool, the default profile's root disk, the image. */
async function prepare(dir: string, conf: string, image: string): Promise<void> {
  const env = { LXD_DIR: dir, LXD_CONF: conf, HOME: conf };
  await sh("lxc", ["storage", "create", "default", "dir"], env);
  await sh("lxc", ["profile", "device", "add", "default", "root", "disk", "path=/", "pool=default"], env);
  await sh("lxc", ["image", "import", image, "--alias", "bb"], env);
}

async function waitSocket(path: string, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      (await Deno.connect({ transport: "unix", path })).close();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${what} did not come up on ${path}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** shoal's rounds: unprivileged containers (the default, as LXD), then security.privileged=true. */
async function shoal(tmp: string, image: string): Promise<{ unprivileged: Figures; privileged: Figures }> {
  const dir = `${tmp}/shoal`;
  await Deno.mkdir(dir, { recursive: true });
  const env = { SHOAL_DIR: dir };
  const daemon = new Deno.Command(`${ROOT}/bin/shoald`, {
    env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  })
    .spawn();
  try {
    await sh(`${ROOT}/bin/shoald`, ["waitready", "--timeout", "30"], env);
    await prepare(dir, `${tmp}/shoal.conf`, image);
    return {
      unprivileged: await lxcRounds(dir, `${tmp}/shoal.conf`, "s"),
      privileged: await lxcRounds(dir, `${tmp}/shoal.conf`, "p", ["-c", "security.privileged=true"]),
    };
  } finally {
    daemon.kill("SIGTERM");
    await daemon.status;
  }
}

async function lxd(tmp: string, image: string): Promise<Figures | string> {
  try {
    await sh("sh", ["-c", "command -v lxd"]);
  } catch {
    return "not installed";
  }
  const dir = `${tmp}/lxd`;
  await Deno.mkdir(dir, { recursive: true });
  const daemon = new Deno.Command("lxd", {
    args: ["--group", "root"],
    env: { LXD_DIR: dir },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitSocket(`${dir}/unix.socket`, "lxd");
    await sh("lxd", ["waitready", "--timeout", "60"], { LXD_DIR: dir });
    await prepare(dir, `${tmp}/lxd.conf`, image);
    return await lxcRounds(dir, `${tmp}/lxd.conf`, "l");
  } catch (e) {
    return `could not run here: ${e instanceof Error ? e.message : e}`;
  } finally {
    await sh("lxd", ["shutdown", "--timeout", "60"], { LXD_DIR: dir }).catch(() => daemon.kill("SIGKILL"));
    await daemon.status;
  }
}

/** The same container life with liblxc's tools alone. */
async function floor(tmp: string, image: string): Promise<Figures> {
  const lxcpath = `${tmp}/floor`;
  await Deno.mkdir(lxcpath, { recursive: true });
  const f: Figures = { launch: [], exec: [], stop: [], delete: [] };
  for (let i = 0; i < ROUNDS; i++) {
    const name = `f${i}`;
    const d = `${lxcpath}/${name}`;
    f.launch.push(
      await timed(async () => {
        await Deno.mkdir(d);
        await sh("tar", ["-xzf", image, "-C", d, "--numeric-owner", "-p"]);
        await Deno.writeTextFile(
          `${d}/config`,
          [
            `lxc.uts.name = ${name}`,
            `lxc.rootfs.path = dir:${d}/rootfs`,
            "lxc.net.0.type = empty",
            "lxc.apparmor.profile = unconfined",
            "lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed",
            "lxc.autodev = 1",
            "lxc.tty.max = 0",
            `lxc.console.logfile = ${d}/console.log`,
            "",
          ].join("\n"),
        );
        await sh("lxc-start", ["-P", lxcpath, "-n", name, "-d"]);
        await sh("lxc-wait", ["-P", lxcpath, "-n", name, "-s", "RUNNING", "-t", "30"]);
      }),
    );
    for (let j = 0; j < EXECS; j++) {
      f.exec.push(
        await timed(() => sh("lxc-attach", ["-P", lxcpath, "-n", name, "--clear-env", "--", "true"])),
      );
    }
    f.stop.push(await timed(() => sh("lxc-stop", ["-P", lxcpath, "-n", name, "-k"])));
    f.delete.push(await timed(() => Deno.remove(d, { recursive: true })));
  }
  return f;
}

function report(label: string, f: Figures): void {
  const s = (x: number[]): Stats => percentiles(x);
  console.log(formatStats(`${label}: launch`, s(f.launch)));
  console.log(formatStats(`${label}: exec round trip (true)`, s(f.exec)));
  console.log(formatStats(`${label}: stop --force`, s(f.stop)));
  console.log(formatStats(`${label}: delete`, s(f.delete)));
}

if (import.meta.main) {
  const tmp = await Deno.makeTempDir({ prefix: "shoal-bench-instances-" });
  await Deno.chmod(tmp, 0o755);
  try {
    const image = `${tmp}/busybox.tar.gz`;
    await sh(`${ROOT}/scripts/make-busybox-image`, [image]);
    console.log(`instances: ${ROUNDS} rounds, ${EXECS} execs per round, all through the real lxc client`);
    report("floor (liblxc tools, no daemon)", await floor(tmp, image));
    const s = await shoal(tmp, image);
    report("shoal (unprivileged, the default)", s.unprivileged);
    report("shoal (security.privileged=true)", s.privileged);
    const l = await lxd(tmp, image);
    if (typeof l === "string") console.log(`LXD: ${l}`);
    else report("LXD", l);
  } finally {
    // Leave no container behind, whatever failed.
    for (const p of ["floor", "shoal/containers", "lxd/containers"]) {
      try {
        for await (const e of Deno.readDir(`${tmp}/${p}`)) {
          await new Deno.Command("lxc-stop", {
            args: ["-P", `${tmp}/${p}`, "-n", e.name, "-k"],
            stderr: "null",
          })
            .output();
        }
      } catch { /* none */ }
    }
    await new Deno.Command("sh", {
      args: [
        "-c",
        `for m in $(awk -v d="${tmp}/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m"; done; rm -rf "${tmp}"`,
      ],
    }).output();
  }
}
