import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { detectCompression, readImageFile } from "./tarball.ts";

async function tarball(
  dir: string,
  name: string,
  files: Record<string, string>,
  flag: string,
): Promise<string> {
  const src = `${dir}/${name}.d`;
  await Deno.mkdir(src);
  for (const [p, text] of Object.entries(files)) {
    await Deno.mkdir(`${src}/${p}`.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.writeTextFile(`${src}/${p}`, text);
  }
  const out = `${dir}/${name}`;
  const r = await new Deno.Command("tar", { args: ["-c", flag, "-f", out, "-C", src, "."] }).output();
  assert.ok(r.success);
  return out;
}

Deno.test("an image tarball is read as LXD reads it: compression, metadata.yaml, SHA-256 of the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const meta =
      "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  os: busybox\n  release: 1\n";
    for (const flag of ["-z", "-J"]) {
      const path = await tarball(
        dir,
        `img${flag}`,
        { "metadata.yaml": meta, "rootfs/etc/hostname": "x\n" },
        flag,
      );
      const info = await readImageFile(path);
      assert.equal(info.compression, flag === "-z" ? "gzip" : "xz");
      assert.equal(info.fingerprint, createHash("sha256").update(await Deno.readFile(path)).digest("hex"));
      assert.deepEqual(info.metadata.properties, { os: "busybox", release: "1" });
      assert.equal(info.metadata.architecture, "x86_64");
    }
    const nometa = await tarball(dir, "nometa", { hello: "hi" }, "-z");
    await assert.rejects(readImageFile(nometa), /Metadata tarball is missing metadata.yaml/);
    const nodate = await tarball(dir, "nodate", { "metadata.yaml": "architecture: x86_64\n" }, "-z");
    await assert.rejects(readImageFile(nodate), /Missing creation date/);
    await Deno.writeTextFile(`${dir}/text`, "not a tarball");
    await assert.rejects(readImageFile(`${dir}/text`), /Unsupported compression/);
    assert.equal(detectCompression(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd])), "zstd");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
