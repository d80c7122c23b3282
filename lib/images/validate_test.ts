import assert from "node:assert/strict";
import { readImageFile } from "./tarball.ts";
import { memberPath } from "./validate.ts";

/** One tar member, written by hand so that a test can make what `tar -c` would never write. */
interface Member {
  name: string;
  type?: "0" | "1" | "2" | "3" | "4" | "5" | "6";
  link?: string;
  data?: string;
}

function header(m: Member, size: number): Uint8Array {
  const h = new Uint8Array(512);
  const put = (at: number, s: string) => h.set(new TextEncoder().encode(s), at);
  const oct = (at: number, len: number, n: number) => put(at, n.toString(8).padStart(len - 1, "0") + "\0");
  put(0, m.name);
  oct(100, 8, m.type === "5" ? 0o755 : 0o644);
  oct(108, 8, 0);
  oct(116, 8, 0);
  oct(124, 12, size);
  oct(136, 12, 1700000000);
  put(148, "        ");
  put(156, m.type ?? "0");
  put(157, m.link ?? "");
  put(257, "ustar\x0000");
  let sum = 0;
  for (const b of h) sum += b;
  put(148, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

function tar(members: Member[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of members) {
    const data = new TextEncoder().encode(m.data ?? "");
    parts.push(header(m, data.length));
    const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
    padded.set(data);
    parts.push(padded);
  }
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const META = "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  os: test\n";
const BASE: Member[] = [
  { name: "metadata.yaml", data: META },
  { name: "rootfs/", type: "5" },
  { name: "rootfs/etc/", type: "5" },
  { name: "rootfs/etc/hostname", data: "x\n" },
];

async function image(dir: string, name: string, members: Member[]): Promise<string> {
  const path = `${dir}/${name}.tar.gz`;
  const child = new Deno.Command("gzip", { args: ["-c"], stdin: "piped", stdout: "piped" }).spawn();
  const w = child.stdin.getWriter();
  await w.write(tar(members));
  await w.close();
  await Deno.writeFile(path, (await child.output()).stdout);
  return path;
}

Deno.test("member paths: ./ dropped; absolute and .. refused", () => {
  assert.equal(memberPath("./rootfs/etc/"), "rootfs/etc");
  assert.equal(memberPath("/etc/passwd"), null);
  assert.equal(memberPath("rootfs/../../x"), null);
});

Deno.test("an image is checked member by member before it is used", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const refused = async (name: string, members: Member[], why: RegExp) => {
      await assert.rejects(readImageFile(await image(dir, name, members)), why);
    };
    await t.step("a plain image passes", async () => {
      const info = await readImageFile(await image(dir, "ok", BASE));
      assert.equal(info.metadata.properties.os, "test");
    });
    await t.step(
      "rootfs a symlink to a host directory",
      () =>
        refused(
          "rootfs-link",
          [BASE[0]!, { name: "rootfs", type: "2", link: "/etc" }],
          /rootfs is not a directory/,
        ),
    );
    await t.step("a member under a symlink member", () =>
      refused(
        "under-link",
        [...BASE, { name: "rootfs/out", type: "2", link: "/" }, { name: "rootfs/out/etc/shadow", data: "x" }],
        /under the symlink "rootfs\/out"/,
      ));
    await t.step("device nodes", async () => {
      await refused("chr", [...BASE, { name: "rootfs/dev/sda", type: "3" }], /is a device node/);
      await refused("blk", [...BASE, { name: "rootfs/dev/sdb", type: "4" }], /is a device node/);
    });
    await t.step("absolute and .. paths", async () => {
      await refused("abs", [...BASE, { name: "/etc/cron.d/x", data: "x" }], /absolute or "\.\." path/);
      await refused("dotdot", [...BASE, { name: "rootfs/../../x", data: "x" }], /absolute or "\.\." path/);
    });
    await t.step("hard links out of the tree", async () => {
      await refused("hl-abs", [...BASE, { name: "rootfs/p", type: "1", link: "/etc/passwd" }], /hard link/);
      await refused(
        "hl-up",
        [...BASE, { name: "rootfs/p", type: "1", link: "../../etc/passwd" }],
        /hard link/,
      );
      // A hard link to a file of the image itself is fine.
      await readImageFile(
        await image(dir, "hl-ok", [...BASE, { name: "rootfs/h", type: "1", link: "rootfs/etc/hostname" }]),
      );
    });
    await t.step("templates must be files in templates/", async () => {
      const meta = (template: string) =>
        `${META}templates:\n  /etc/hostname:\n    when: [create]\n    template: ${template}\n`;
      const withTemplates = (template: string): Member[] => [
        { name: "metadata.yaml", data: meta(template) },
        ...BASE.slice(1),
        { name: "templates/", type: "5" },
        { name: "templates/hostname.tpl", data: "{{ container.name }}\n" },
      ];
      await readImageFile(await image(dir, "tpl-ok", withTemplates("hostname.tpl")));
      await refused("tpl-up", withTemplates("../../../../etc/shadow"), /is not a file in templates\//);
      await refused("tpl-abs", withTemplates("/etc/shadow"), /is not a file in templates\//);
      await refused("tpl-missing", withTemplates("nope.tpl"), /is not a file in templates\//);
    });
    await t.step("a decompression bomb", async () => {
      // 200 MiB of zeros gzip to about 200 KiB: a ratio of about 1000.
      const path = `${dir}/bomb.tar.gz`;
      const r = await new Deno.Command("sh", {
        args: ["-c", `head -c 209715200 /dev/zero > "${dir}/zero" && tar -C "${dir}" -czf "${path}" zero`],
      }).output();
      assert.ok(r.success);
      await assert.rejects(readImageFile(path), /more than 100 times its compressed size/);
    });
    await t.step("no rootfs", () => refused("norootfs", [BASE[0]!], /no rootfs directory/));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
