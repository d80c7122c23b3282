/**
 * Custom volumes on a member with the real lxc client: create, list, show, set, rename, attach
 * to a container (a disk device mounted at a path), refused deletion while attached, detach,
 * delete; and bad input that changes nothing.
 */
import assert from "node:assert/strict";
import { Member, tempDir } from "../helpers/member.ts";
import { busyboxImage, PRESEED, stopContainers } from "./instances_helpers.ts";

Deno.test("custom volumes with the real lxc client: lifecycle, attach to a container, bad input", async (t) => {
  await using tmp = await tempDir("vol-lxc");
  const m = await new Member(`${tmp.path}/m1`).start();
  try {
    assert.equal((await m.shoald(["init", "--preseed"], { stdin: PRESEED })).code, 0);
    const pool = `${tmp.path}/m1/storage-pools/default`;
    await t.step("create, list, show, set, rename", async () => {
      const c = await m.lxc(["storage", "volume", "create", "default", "web"]);
      assert.equal(c.code, 0, c.stderr);
      assert.ok((await Deno.stat(`${pool}/custom/default_web`)).isDirectory);
      const list = await m.lxc(["storage", "volume", "list", "default", "--format", "csv"]);
      assert.match(list.stdout, /^custom,web,,filesystem,0$/m, list.stdout);
      assert.equal((await m.lxc(["storage", "volume", "set", "default", "web", "user.k", "v"])).code, 0);
      const show = await m.lxc(["storage", "volume", "show", "default", "web"]);
      assert.match(show.stdout, /user\.k: v/);
      assert.match(show.stdout, /^name: web$/m);
      const mv = await m.lxc(["storage", "volume", "rename", "default", "web", "www"]);
      assert.equal(mv.code, 0, mv.stderr);
      assert.ok((await Deno.stat(`${pool}/custom/default_www`)).isDirectory);
    });
    await t.step("attached to a container it is mounted at its path, and cannot be deleted", async () => {
      const image = await busyboxImage(tmp.path);
      assert.equal((await m.lxc(["image", "import", image, "--alias", "bb"])).code, 0);
      assert.equal((await m.lxc(["init", "bb", "c1"])).code, 0);
      const a = await m.lxc(["storage", "volume", "attach", "default", "www", "c1", "/srv/www"]);
      assert.equal(a.code, 0, a.stderr);
      const st = await m.lxc(["start", "c1"]);
      assert.equal(st.code, 0, st.stderr);
      const w = await m.lxc(["exec", "c1", "--", "sh", "-c", "echo from-c1 >/srv/www/f"]);
      assert.equal(w.code, 0, w.stderr);
      assert.equal(await Deno.readTextFile(`${pool}/custom/default_www/f`), "from-c1\n");
      const del = await m.lxc(["storage", "volume", "delete", "default", "www"]);
      assert.notEqual(del.code, 0);
      assert.match(del.stderr, /The storage volume is still in use/);
      const show = await m.lxc(["storage", "volume", "show", "default", "www"]);
      assert.match(show.stdout, /\/1\.0\/instances\/c1/);
      assert.equal((await m.lxc(["stop", "--force", "c1"])).code, 0);
      const d = await m.lxc(["storage", "volume", "detach", "default", "www", "c1"]);
      assert.equal(d.code, 0, d.stderr);
      const rm = await m.lxc(["storage", "volume", "delete", "default", "www"]);
      assert.equal(rm.code, 0, rm.stderr);
      await assert.rejects(Deno.stat(`${pool}/custom/default_www`));
    });
    await t.step("bad input gets LXD's refusals and changes nothing", async () => {
      assert.equal((await m.lxc(["storage", "volume", "create", "default", "v1"])).code, 0);
      const cases: [string[], RegExp][] = [
        [["storage", "volume", "create", "default", "v1"], /Volume by that name already exists/],
        [["storage", "volume", "create", "default", "v2", "bogus=1"], /Invalid option "bogus"/],
        [["storage", "volume", "create", "nopool", "v2"], /Storage pool not found/],
        [["storage", "volume", "show", "default", "nothere"], /Storage volume not found/],
        [
          ["storage", "volume", "create", "default", "v2", "--target", "m9"],
          /Target only allowed when clustered/,
        ],
        [
          ["config", "device", "add", "c1", "d1", "disk", "pool=default", "source=nothere", "path=/x"],
          /Storage volume "nothere" not found/,
        ],
      ];
      for (const [args, want] of cases) {
        const r = await m.lxc(args);
        assert.notEqual(r.code, 0, args.join(" "));
        assert.match(r.stderr, want, args.join(" "));
      }
      const list = await m.lxc(["storage", "volume", "list", "default", "--format", "csv"]);
      assert.equal(
        list.stdout.split("\n").filter((l) => l.startsWith("custom,")).join("\n"),
        "custom,v1,,filesystem,0",
      );
      assert.equal((await m.lxc(["config", "device", "list", "c1"])).stdout.trim(), "");
    });
  } finally {
    await stopContainers(`${tmp.path}/m1`);
    await m.stop();
  }
});
