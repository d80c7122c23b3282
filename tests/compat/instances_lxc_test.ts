/**
 * The unmodified lxc 5.0 client (Debian's lxd-client) against shoal over the unix socket
 * (LXD_DIR): it imports the busybox image, launches a real container, lists it, execs in it,
 * pushes and pulls a file, stops and deletes it.
 */
import assert from "node:assert/strict";
import { Member, tempDir } from "../helpers/member.ts";
import { busyboxImage, PRESEED, stopContainers } from "./instances_helpers.ts";

Deno.test("the real lxc client drives a real container on shoal", async (t) => {
  await using tmp = await tempDir("inst-lxc");
  const m = await new Member(`${tmp.path}/m1`).start();
  try {
    assert.equal((await m.shoald(["init", "--preseed"], { stdin: PRESEED })).code, 0);
    const image = await busyboxImage(tmp.path);
    await t.step("lxc image import --alias, lxc image list", async () => {
      const r = await m.lxc(["image", "import", image, "--alias", "bb"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Image imported with fingerprint: [0-9a-f]{64}/);
      const list = await m.lxc(["image", "list", "--format", "csv"]);
      assert.match(list.stdout, /^bb,[0-9a-f]{12},no,BusyBox/m);
    });
    await t.step("lxc launch, lxc list", async () => {
      const r = await m.lxc(["launch", "bb", "c1"], { stdin: "" });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout + r.stderr, /Creating c1/, r.stdout + r.stderr);
      assert.equal((await m.lxc(["list", "--format", "csv", "-c", "ns"])).stdout, "c1,RUNNING\n");
      const info = await m.lxc(["info", "c1"]);
      assert.match(info.stdout, /Status: RUNNING/);
    });
    await t.step("lxc exec: output, exit code, stdin", async () => {
      const h = await m.lxc(["exec", "c1", "--", "hostname"]);
      assert.equal(h.stdout, "c1\n", h.stderr);
      assert.equal((await m.lxc(["exec", "c1", "--", "sh", "-c", "exit 7"])).code, 7);
      assert.equal((await m.lxc(["exec", "c1", "--", "no-such-command"])).code, 127);
      const cat = await m.lxc(["exec", "c1", "--", "cat"], { stdin: "through stdin\n" });
      assert.equal(cat.stdout, "through stdin\n");
    });
    await t.step("lxc file push and pull", async () => {
      await Deno.writeTextFile(`${tmp.path}/f`, `payload-${crypto.randomUUID()}\n`);
      const push = await m.lxc(["file", "push", `${tmp.path}/f`, "c1/root/f"]);
      assert.equal(push.code, 0, push.stderr);
      const pull = await m.lxc(["file", "pull", "c1/root/f", `${tmp.path}/g`]);
      assert.equal(pull.code, 0, pull.stderr);
      assert.equal(await Deno.readTextFile(`${tmp.path}/g`), await Deno.readTextFile(`${tmp.path}/f`));
    });
    await t.step("lxc config set, lxc delete refused while running, lxc stop, lxc delete", async () => {
      assert.equal((await m.lxc(["config", "set", "c1", "user.note", "hi"])).code, 0);
      assert.equal((await m.lxc(["config", "get", "c1", "user.note"])).stdout, "hi\n");
      const del = await m.lxc(["delete", "c1"]);
      assert.notEqual(del.code, 0);
      assert.match(del.stderr, /stop it first or pass --force/);
      const stop = await m.lxc(["stop", "--force", "c1"]);
      assert.equal(stop.code, 0, stop.stderr);
      assert.equal((await m.lxc(["list", "--format", "csv", "-c", "ns"])).stdout, "c1,STOPPED\n");
      const rm = await m.lxc(["delete", "c1"]);
      assert.equal(rm.code, 0, rm.stderr);
      assert.equal((await m.lxc(["list", "--format", "csv"])).stdout, "");
    });
  } finally {
    await stopContainers(m.dir);
    await m.stop();
  }
});
