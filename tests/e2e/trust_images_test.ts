/**
 * Images cannot reach the host (issue 11's findings, each failing on the code before it): an
 * image whose rootfs is a symlink to a host directory, one whose template path climbs out of
 * templates/, one with a device node, are refused at import with a message naming the member,
 * and leave nothing behind (image list, images/, storage pool, the host directory). Unix socket.
 */
import assert from "node:assert/strict";
import { Member, run, tempDir } from "../helpers/member.ts";
import { busyboxImage, PRESEED, stopContainers } from "../compat/instances_helpers.ts";

async function sh(script: string): Promise<void> {
  const r = await run("sh", ["-ec", script]);
  assert.equal(r.code, 0, r.stderr);
}

/** What a refused import must not change. */
async function state(m: Member, hostDir: string): Promise<string> {
  const list = await m.shoal(["image", "list", "--format", "csv", "-c", "f"]);
  const find = await run("sh", ["-c", `find "${m.dir}/images" "${m.dir}/storage-pools" -maxdepth 3 | sort`]);
  const host = await run("ls", ["-lA", hostDir]);
  return [list.stdout, find.stdout, host.stdout].join("\n");
}

Deno.test("images that would reach the host are refused at import and leave nothing behind", async (t) => {
  await using tmp = await tempDir("trust-images");
  const m = await new Member(`${tmp.path}/m1`).start();
  try {
    assert.equal((await m.shoald(["init", "--preseed"], { stdin: PRESEED })).code, 0);
    const bb = await busyboxImage(tmp.path);
    assert.equal((await m.shoal(["image", "import", bb, "--alias", "bb"])).code, 0);
    const host = `${tmp.path}/host`;
    await Deno.mkdir(host);
    await Deno.writeTextFile(`${host}/keep`, "keep\n");
    const before = await state(m, host);

    await t.step("rootfs a symlink to a host directory", async () => {
      await sh(`d=${tmp.path}/i1; mkdir -p $d; tar -C $d -xzf ${bb} metadata.yaml; ln -s ${host} $d/rootfs;
        tar -C $d -czf ${tmp.path}/i1.tar.gz metadata.yaml rootfs`);
      const r = await m.shoal(["image", "import", `${tmp.path}/i1.tar.gz`, "--alias", "evil"]);
      assert.equal(r.code, 1, "an image whose rootfs is a symlink to a host directory was imported");
      assert.equal(r.stderr.trim(), "Error: Invalid image: rootfs is not a directory");
      assert.equal(await state(m, host), before);
    });

    await t.step("a template path climbing out of templates/", async () => {
      const secret = `${tmp.path}/secret.txt`;
      await Deno.writeTextFile(secret, `host-secret-${crypto.randomUUID()}\n`);
      const up = "../".repeat(40) + secret.slice(1);
      await sh(`d=${tmp.path}/i2; mkdir -p $d/templates; tar -C $d -xzf ${bb} rootfs;
        echo '{{ container.name }}' > $d/templates/hostname.tpl
        printf 'architecture: x86_64\\ncreation_date: 1700000000\\nproperties:\\n  os: busybox\\ntemplates:\\n  /leak:\\n    when: [create]\\n    template: ${up}\\n' > $d/metadata.yaml
        tar -C $d -czf ${tmp.path}/i2.tar.gz metadata.yaml templates rootfs`);
      const r = await m.shoal(["image", "import", `${tmp.path}/i2.tar.gz`, "--alias", "esc"]);
      assert.equal(r.code, 1, "an image with a template path out of templates/ was imported");
      assert.match(
        r.stderr,
        /^Error: Invalid image: template ".*secret\.txt" of "\/leak" is not a file in templates\/$/m,
      );
      assert.equal(await state(m, host), before);
    });

    await t.step("a device node", async () => {
      await sh(`d=${tmp.path}/i3; mkdir -p $d; tar -C $d -xzf ${bb}; mknod $d/rootfs/dev/sda b 8 0;
        tar -C $d -czf ${tmp.path}/i3.tar.gz metadata.yaml rootfs`);
      const r = await m.shoal(["image", "import", `${tmp.path}/i3.tar.gz`]);
      assert.equal(r.code, 1, "an image with a block device node was imported");
      assert.match(r.stderr, /^Error: Invalid image: member "rootfs\/dev\/sda" is a device node$/m);
      assert.equal(await state(m, host), before);
    });

    await t.step("the busybox image itself still imports and launches", async () => {
      const r = await m.shoal(["launch", "bb", "c1"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await m.shoal(["exec", "c1", "--", "hostname"])).stdout, "c1\n");
    });
  } finally {
    await stopContainers(m.dir);
    await m.stop();
  }
});
