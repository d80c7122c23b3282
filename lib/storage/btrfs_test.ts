/**
 * The btrfs driver for real: a loop file it makes, formats and mounts; volumes as subvolumes; a
 * copy as a snapshot; a directory source on btrfs; and refusals (tools missing, a directory not
 * on btrfs) that leave nothing behind. Needs root and loop devices, as the daemon does.
 */
import assert from "node:assert/strict";
import { BtrfsPool, parseSize } from "./btrfs.ts";
import { openPool } from "./pools.ts";

async function exists(p: string): Promise<boolean> {
  return await Deno.stat(p).then(() => true, () => false);
}

async function fsType(p: string): Promise<string> {
  const out = await new Deno.Command("stat", { args: ["-f", "-c", "%T", p] }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("parseSize reads LXD's units", () => {
  assert.equal(parseSize("5GiB"), 5 * 1024 ** 3);
  assert.equal(parseSize("500MB"), 500 * 1000 ** 2);
  assert.equal(parseSize("1024"), 1024);
  assert.throws(() => parseSize("lots"), /Invalid size "lots"/);
});

/** A loop device to be had (root, /dev/loop-control): without one the loop-file test says so and skips. */
const HAVE_LOOP =
  (await new Deno.Command("losetup", { args: ["-f"], stdout: "null", stderr: "null" }).output()
    .catch(() => ({ success: false }))).success;
if (!HAVE_LOOP) {
  console.log("lib/storage: no loop device here (losetup -f failed): skipping the loop-file test");
}

Deno.test({
  name: "btrfs pool on a loop file: subvolumes, snapshot copies, and nothing left after delete",
  ignore: !HAVE_LOOP,
}, async () => {
  const tmp = await Deno.makeTempDir({ prefix: "shoal-btrfs-" });
  const pool = new BtrfsPool("p1", `${tmp}/storage-pools`, { size: "300MiB" });
  try {
    await pool.create();
    assert.deepEqual(pool.ownConfig(), { source: `${tmp}/disks/p1.img`, size: "300MiB" });
    assert.equal(await fsType(pool.path), "btrfs");
    // Idempotent: a second create (a restart, a join) only makes sure it is mounted.
    await pool.create();

    const c1 = await pool.createContainerVolume("c1");
    await Deno.mkdir(`${c1}/rootfs`);
    await Deno.writeTextFile(`${c1}/rootfs/hello`, "hi");
    const c2 = await pool.copyContainerVolume("c1", "c2");
    assert.equal(await Deno.readTextFile(`${c2}/rootfs/hello`), "hi");
    assert.equal((await Deno.stat(c2)).ino, 256, "the copy is not a subvolume");
    // Snapshots: a subvolume snapshot each; a restore puts the snapshot's content back.
    await pool.createSnapshot("c2", "s0");
    assert.equal(
      (await Deno.stat(pool.snapshotPath("c2", "s0"))).ino,
      256,
      "the snapshot is not a subvolume",
    );
    await Deno.writeTextFile(`${c2}/rootfs/hello`, "changed");
    await pool.restoreSnapshot("c2", "s0");
    assert.equal(await Deno.readTextFile(`${c2}/rootfs/hello`), "hi");
    await pool.renameSnapshot("c2", "s0", "s1");
    await pool.createSnapshot("c2", "s2");
    await pool.deleteSnapshot("c2", "s2");
    assert.ok(!await exists(pool.snapshotPath("c2", "s2")));
    await pool.deleteSnapshots("c2");
    assert.ok(!await exists(`${pool.path}/containers-snapshots/c2`));
    await pool.deleteContainerVolume("c2");
    await pool.deleteContainerVolume("c1");
    assert.ok(!await exists(c1));

    await pool.createCustomVolume("web");
    await pool.renameCustomVolume("web", "www");
    assert.ok(await exists(pool.customPath("www")));
    await pool.deleteCustomVolume("www");
    assert.ok(!await exists(pool.customPath("www")));

    // A directory source on btrfs becomes a subvolume of its own.
    const sub = openPool(
      { name: "p2", driver: "btrfs", config: { source: `${pool.path}/p2src` } },
      `${tmp}/x`,
    );
    await sub.create();
    assert.equal((await Deno.stat(`${pool.path}/p2src`)).ino, 256);
    await sub.delete();
    assert.ok(!await exists(`${pool.path}/p2src`));
  } finally {
    await pool.delete();
  }
  assert.ok(!await exists(`${tmp}/disks/p1.img`), "the loop file outlived the pool");
  assert.ok(!await exists(pool.path), "the mount point outlived the pool");
  await Deno.remove(tmp, { recursive: true });
});

Deno.test({
  name: "btrfs pool on a block device: formatted, mounted, and unmounted at delete",
  ignore: !HAVE_LOOP,
}, async () => {
  const tmp = await Deno.makeTempDir({ prefix: "shoal-btrfs-" });
  const img = `${tmp}/disk.img`;
  await Deno.writeFile(img, new Uint8Array(0));
  await Deno.truncate(img, 256 * 1024 * 1024);
  const out = await new Deno.Command("losetup", { args: ["-f", "--show", img] }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const dev = new TextDecoder().decode(out.stdout).trim();
  const pool = new BtrfsPool("blk", `${tmp}/storage-pools`, { source: dev });
  try {
    await pool.create();
    assert.deepEqual(pool.ownConfig(), { source: dev });
    assert.equal(await fsType(pool.path), "btrfs");
    await pool.createCustomVolume("v");
    assert.equal((await Deno.stat(pool.customPath("v"))).ino, 256);
  } finally {
    await pool.delete();
    await new Deno.Command("losetup", { args: ["-d", dev] }).output();
    await Deno.remove(tmp, { recursive: true });
  }
  assert.ok(!await exists(pool.path), "the mount point outlived the pool");
});

Deno.test("btrfs refusals leave nothing: a directory not on btrfs, tools missing", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "shoal-btrfs-" });
  try {
    const notBtrfs = new BtrfsPool("p3", `${tmp}/storage-pools`, { source: `${tmp}/plain` });
    await assert.rejects(notBtrfs.create(), /Provided path does not reside on a btrfs filesystem/);
    assert.ok(!await exists(`${tmp}/plain`));

    const path = Deno.env.get("PATH") ?? "";
    await Deno.mkdir(`${tmp}/empty`);
    Deno.env.set("PATH", `${tmp}/empty`);
    try {
      const loop = new BtrfsPool("p4", `${tmp}/storage-pools`, {});
      await assert.rejects(loop.create(), /Required tool "btrfs" is missing/);
    } finally {
      Deno.env.set("PATH", path);
    }
    assert.ok(!await exists(`${tmp}/disks`), "a loop file was made before the tools were checked");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
