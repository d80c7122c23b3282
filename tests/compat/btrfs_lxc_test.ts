/**
 * A btrfs pool with the real lxc client on a member in a mount namespace of its own (so that
 * its loop mount goes with it): `lxc storage create fast btrfs` makes, formats and mounts a loop
 * file; a container launched on it runs from a subvolume; a custom volume attaches; the pool is
 * deleted with nothing left. A member without btrfs' tools refuses the pool with LXD's message
 * and records nothing.
 */
import assert from "node:assert/strict";
import { Member, tempDir } from "../helpers/member.ts";
import { busyboxImage, PRESEED } from "./instances_helpers.ts";

const PRIVATE_MOUNTS = ["unshare", "-m", "--propagation", "private", "env"];

const HAVE_LOOP =
  (await new Deno.Command("losetup", { args: ["-f"], stdout: "null", stderr: "null" }).output()
    .catch(() => ({ success: false }))).success;
if (!HAVE_LOOP) console.log("tests/compat: no loop device here (losetup -f failed): skipping btrfs pools");

Deno.test({
  name: "btrfs pools with the real lxc client: loop file, containers and volumes on subvolumes",
  ignore: !HAVE_LOOP,
}, async (t) => {
  await using tmp = await tempDir("btrfs-lxc");
  const m = await new Member(`${tmp.path}/m1`, "m1", {}, PRIVATE_MOUNTS).start();
  let launched = false;
  try {
    assert.equal((await m.shoald(["init", "--preseed"], { stdin: PRESEED })).code, 0);
    await t.step("storage create fast btrfs: a loop file of its own, formatted and mounted", async () => {
      const r = await m.lxc(["storage", "create", "fast", "btrfs", "size=512MiB"]);
      assert.equal(r.code, 0, r.stderr);
      const show = await m.lxc(["storage", "show", "fast"]);
      assert.match(show.stdout, new RegExp(`source: ${tmp.path}/m1/disks/fast\\.img`));
      assert.match(show.stdout, /size: 512MiB/);
      assert.ok((await Deno.stat(`${tmp.path}/m1/disks/fast.img`)).isFile);
    });
    await t.step("a container on the pool runs from a subvolume; a volume attaches", async () => {
      const image = await busyboxImage(tmp.path);
      assert.equal((await m.lxc(["image", "import", image, "--alias", "bb"])).code, 0);
      launched = true;
      const l = await m.lxc(["init", "bb", "c1", "-s", "fast"]);
      assert.equal(l.code, 0, l.stderr);
      assert.equal((await m.lxc(["storage", "volume", "create", "fast", "data"])).code, 0);
      const a = await m.lxc([
        "config",
        "device",
        "add",
        "c1",
        "data",
        "disk",
        "pool=fast",
        "source=data",
        "path=/data",
      ]);
      assert.equal(a.code, 0, a.stderr);
      const s = await m.lxc(["start", "c1"]);
      assert.equal(s.code, 0, s.stderr);
      // The container's root is the pool's filesystem (busybox's stat does not name btrfs).
      const st = await m.lxc(["exec", "c1", "--", "sh", "-c", "grep ' / ' /proc/mounts"]);
      assert.equal(st.code, 0, st.stderr);
      assert.match(st.stdout, / \/ btrfs /);
      const w = await m.lxc(["exec", "c1", "--", "sh", "-c", "echo x >/data/f && cat /data/f"]);
      assert.equal(w.stdout.trim(), "x", w.stderr);
    });
    await t.step(
      "a restarted member mounts the pool again: the container and its volume start as they were",
      async () => {
        assert.equal((await m.lxc(["stop", "--force", "c1"])).code, 0);
        // A new daemon in a new mount namespace: nothing is mounted there until the pool is used.
        await m.stop();
        await m.start();
        const s = await m.lxc(["start", "c1"]);
        assert.equal(s.code, 0, s.stderr);
        const r = await m.lxc(["exec", "c1", "--", "cat", "/data/f"]);
        assert.equal(r.stdout.trim(), "x", r.stderr);
      },
    );
    await t.step("deleting the container, volume and pool leaves no loop file", async () => {
      assert.equal((await m.lxc(["delete", "--force", "c1"])).code, 0);
      launched = false;
      assert.equal((await m.lxc(["storage", "volume", "delete", "fast", "data"])).code, 0);
      const d = await m.lxc(["storage", "delete", "fast"]);
      assert.equal(d.code, 0, d.stderr);
      assert.equal(await Deno.stat(`${tmp.path}/m1/disks/fast.img`).then(() => true, () => false), false);
    });
  } finally {
    if (launched) await m.lxc(["delete", "--force", "c1"]).catch(() => {});
    await m.stop();
  }

  await t.step("without btrfs' tools the pool is refused with LXD's message, nothing recorded", async () => {
    // A PATH with the tools the daemon needs but not btrfs': a directory of links to them.
    const bin = `${tmp.path}/bin`;
    await Deno.mkdir(bin);
    for (const dir of ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]) {
      for await (const e of Deno.readDir(dir)) {
        if (/btrfs/.test(e.name)) continue;
        await Deno.symlink(`${dir}/${e.name}`, `${bin}/${e.name}`).catch(() => {});
      }
    }
    await Deno.symlink(Deno.execPath(), `${bin}/deno`).catch(() => {});
    const m2 = await new Member(`${tmp.path}/m2`, "m2", { PATH: bin }, PRIVATE_MOUNTS).start();
    try {
      const r = await m2.lxc(["storage", "create", "fast", "btrfs"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Required tool "btrfs" is missing/);
      assert.doesNotMatch((await m2.lxc(["storage", "list", "--format", "csv"])).stdout, /^fast,/m);
      assert.equal(await Deno.stat(`${tmp.path}/m2/disks`).then(() => true, () => false), false);
    } finally {
      await m2.stop();
    }
  });
});
