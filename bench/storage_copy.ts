/**
 * Copying an instance's volume (what `lxc copy` costs in storage) on the btrfs driver (a
 * snapshot of its subvolume) and on the dir driver (a full `cp -a`), through lib/storage's
 * drivers on a loop-file btrfs pool and a dir pool the bench makes:
 *
 * - the source: the busybox image's rootfs plus SIZE_MB of files (256 KiB each), as a
 *   container's volume;
 * - each driver's copy, ROUNDS times (each copy deleted before the next, not timed), alternating
 *   with its floor;
 * - floors in the same run: the raw tool alone on the same filesystem (`btrfs subvolume
 *   snapshot`; `cp -a`);
 * - LXD 5.0.2 side by side when Debian's `lxd` is installed: `lxc copy` of a stopped container
 *   with the same content on its btrfs (loop) and dir pools (a whole instance copy through its
 *   API, which shoal does not have yet: the storage part is what the drivers here measure).
 *
 * The bench runs itself again in a mount namespace of its own (unshare -m), so that the loop
 * mount goes with it whatever happens. Run: `deno task bench storage_copy` (as root).
 * Env: ROUNDS (default 10), SIZE_MB (default 64).
 * @module
 */
import { formatStats, percentiles } from "./floors.ts";
import { BtrfsPool, DirPool, type StorageDriver } from "../lib/storage/mod.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 10);
const SIZE_MB = Number(Deno.env.get("SIZE_MB") ?? 64);

async function sh(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** A container volume "src" with the image's rootfs and SIZE_MB of data. */
async function fill(pool: StorageDriver, image: string): Promise<void> {
  const dir = await pool.createContainerVolume("src");
  await Deno.chmod(dir, 0o755);
  await sh("tar", ["-xzf", image, "-C", dir, "--numeric-owner", "-p"]);
  const chunk = new Uint8Array(256 * 1024);
  await Deno.mkdir(`${dir}/rootfs/data`);
  for (let i = 0; i < SIZE_MB * 4; i++) {
    crypto.getRandomValues(chunk.subarray(0, 65536));
    await Deno.writeFile(`${dir}/rootfs/data/f${i}`, chunk);
  }
  await sh("sync", []);
}

/**
 * The driver's copy and the raw tool's, alternating round by round, so that both meet the
 * filesystem in the same state (btrfs cleans deleted subvolumes in the background). One more
 * round of each than timed: the first warms caches and the filesystem's trees.
 */
async function sideBySide(
  pool: StorageDriver,
  raw: { copy: (to: string) => Promise<unknown>; remove: (to: string) => Promise<unknown> },
): Promise<{ driver: number[]; floor: number[] }> {
  const out = { driver: [] as number[], floor: [] as number[] };
  for (let i = 0; i <= ROUNDS; i++) {
    const f = await timed(() => raw.copy(`f${i}`));
    await raw.remove(`f${i}`);
    const d = await timed(() => pool.copyContainerVolume("src", `c${i}`));
    await pool.deleteContainerVolume(`c${i}`);
    if (i > 0) {
      out.floor.push(f);
      out.driver.push(d);
    }
  }
  return out;
}

async function run(cmd: string, args: string[], env: Record<string, string>, stdin?: string): Promise<void> {
  const c = new Deno.Command(cmd, {
    args,
    env,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  if (stdin !== undefined) {
    const w = c.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await c.output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/** `lxc copy` on LXD's btrfs and dir pools, the source filled as shoal's; a string says why not. */
async function lxd(tmp: string, image: string): Promise<{ btrfs: number[]; dir: number[] } | string> {
  if ((await new Deno.Command("sh", { args: ["-c", "command -v lxd"] }).output()).code !== 0) {
    return "not installed here";
  }
  const dir = `${tmp}/lxd`;
  await Deno.mkdir(dir, { recursive: true });
  const env = { LXD_DIR: dir, LXD_CONF: `${tmp}/lxd.conf`, HOME: `${tmp}/lxd.conf` };
  // Started from this process, LXD lives in the bench's mount namespace: its loop mount goes with it.
  const daemon = new Deno.Command("sh", {
    args: ["-c", `exec lxd --group root >"${tmp}/lxd.log" 2>&1`],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await run("lxd", ["waitready", "--timeout", "60"], env);
    await run(
      "lxd",
      ["init", "--preseed"],
      env,
      [
        "storage_pools:",
        "- {name: dir, driver: dir}",
        `- {name: bt, driver: btrfs, config: {size: ${Math.ceil(SIZE_MB * 4 / 1024 + 1)}GiB}}`,
        "profiles:",
        "- {name: default, devices: {root: {path: /, pool: dir, type: disk}}}",
        "",
      ].join("\n"),
    );
    await run("lxc", ["image", "import", image, "--alias", "bb"], env);
    const out = { btrfs: [] as number[], dir: [] as number[] };
    for (const [pool, key] of [["bt", "btrfs"], ["dir", "dir"]] as const) {
      const src = `src${pool}`;
      await run("lxc", ["init", "bb", src, "-s", pool], env);
      const data = `${dir}/storage-pools/${pool}/containers/${src}/rootfs/data`;
      await Deno.mkdir(data);
      const chunk = new Uint8Array(256 * 1024);
      for (let i = 0; i < SIZE_MB * 4; i++) {
        crypto.getRandomValues(chunk.subarray(0, 65536));
        await Deno.writeFile(`${data}/f${i}`, chunk);
      }
      await sh("sync", []);
      for (let i = 0; i <= ROUNDS; i++) {
        const ms = await timed(() => run("lxc", ["copy", src, `${src}c${i}`], env));
        if (i > 0) out[key].push(ms);
        await run("lxc", ["delete", `${src}c${i}`], env);
      }
      await run("lxc", ["delete", src], env);
    }
    return out;
  } catch (e) {
    return `could not run here: ${e instanceof Error ? e.message : e}`;
  } finally {
    await run("lxd", ["shutdown", "--timeout", "60"], env).catch(() => daemon.kill("SIGKILL"));
    await daemon.status;
  }
}

async function main(): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "shoal-bench-copy-" });
  const btrfs = new BtrfsPool("bench", `${tmp}/storage-pools`, {
    size: `${Math.ceil(SIZE_MB * 4 / 1024 + 1)}GiB`,
  });
  const dir = new DirPool("benchdir", `${tmp}/storage-pools`);
  try {
    const image = `${tmp}/busybox.tar.gz`;
    await sh(`${ROOT}/scripts/make-busybox-image`, [image]);
    await btrfs.create();
    await dir.create();
    await fill(btrfs, image);
    await fill(dir, image);
    console.log(`storage copy: an instance volume of busybox + ${SIZE_MB} MiB, ${ROUNDS} copies each`);
    const bsrc = btrfs.containerPath("src");
    const dsrc = dir.containerPath("src");
    const b = await sideBySide(btrfs, {
      copy: (to) => sh("btrfs", ["subvolume", "snapshot", bsrc, btrfs.containerPath(to)]),
      remove: (to) => sh("btrfs", ["subvolume", "delete", btrfs.containerPath(to)]),
    });
    console.log(formatStats("floor: btrfs subvolume snapshot", percentiles(b.floor)));
    console.log(formatStats("shoal btrfs driver: copy", percentiles(b.driver)));
    const d = await sideBySide(dir, {
      copy: (to) => sh("cp", ["-a", "--", dsrc, dir.containerPath(to)]),
      remove: (to) => Deno.remove(dir.containerPath(to), { recursive: true }),
    });
    console.log(formatStats("floor: cp -a", percentiles(d.floor)));
    console.log(formatStats("shoal dir driver: copy", percentiles(d.driver)));
    const l = await lxd(tmp, image);
    if (typeof l === "string") console.log(`LXD: ${l}`);
    else {
      console.log(formatStats("LXD 5.0.2 btrfs: lxc copy (whole instance)", percentiles(l.btrfs)));
      console.log(formatStats("LXD 5.0.2 dir: lxc copy (whole instance)", percentiles(l.dir)));
    }
  } finally {
    await btrfs.delete().catch((e) => console.error(`could not delete the btrfs pool: ${e}`));
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  if (Deno.env.get("SHOAL_BENCH_INNER") === "1") {
    await main();
  } else {
    // Again in a mount namespace of its own: the loop mount cannot outlive the bench.
    const st = await new Deno.Command("unshare", {
      args: [
        "-m",
        "--propagation",
        "private",
        Deno.execPath(),
        "run",
        "-A",
        "--cached-only",
        new URL(import.meta.url).pathname,
      ],
      env: { SHOAL_BENCH_INNER: "1" },
    }).spawn().status;
    Deno.exit(st.code);
  }
}
