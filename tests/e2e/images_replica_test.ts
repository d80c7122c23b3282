/**
 * Image replication: three real members on 127.0.0.141-143 with a dir pool. An image imported
 * through m1 reaches as many members' image stores as cluster.images_minimal_replica asks, byte
 * for byte, the lacking members taken voters first, then in id order (all three are voters here);
 * -1 takes it to every member; bad values are refused with LXD's message; the image is listed
 * once whatever its copies; a copy's export answers the ranges a resuming fetch asks (206, or
 * 416 outside the file); deleting it removes every copy; a holder lost, the first member lacking
 * it takes a copy.
 */
import assert from "node:assert/strict";
import { formCluster } from "../helpers/cluster.ts";
import { type Member, run, tempDir, waitFor } from "../helpers/member.ts";
import { busyboxImage, PRESEED } from "../compat/instances_helpers.ts";

const ADDRESSES = ["127.0.0.141", "127.0.0.142", "127.0.0.143"];

async function sameBytes(a: string, b: string): Promise<boolean> {
  try {
    const [x, y] = await Promise.all([Deno.readFile(a), Deno.readFile(b)]);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  } catch {
    return false;
  }
}

async function sha256(path: string): Promise<string> {
  return Array.from(
    new Uint8Array(await crypto.subtle.digest("SHA-256", await Deno.readFile(path))),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

Deno.test("images are copied to members up to cluster.images_minimal_replica", async (t) => {
  await using tmp = await tempDir("images-replica");
  let members: Member[] = [];
  try {
    members = await formCluster(tmp.path, ADDRESSES, { preseed: PRESEED });
    const [m1, m2, m3] = members as [Member, Member, Member];
    /** `shoal ARGS` through m, which must succeed (Member.must says why it did not). */
    const ok = async (m: Member, args: string[]) => (await m.must(args)).stdout;
    const image = await busyboxImage(tmp.path);
    const fp = await sha256(image);
    const held = async () => {
      const out: string[] = [];
      for (const m of members) if (await sameBytes(image, `${m.dir}/images/${fp}`)) out.push(m.name);
      return out.join(",");
    };

    await t.step("bad counts are refused with LXD's messages and change nothing", async () => {
      for (
        const [v, msg] of [["0", "Invalid value for image replica count"], [
          "x",
          "Minimal image replica count is not a number",
        ]]
      ) {
        const r = await m1.shoal(["config", "set", `cluster.images_minimal_replica=${v}`]);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(msg!));
      }
      assert.equal((await ok(m2, ["config", "get", "cluster.images_minimal_replica"])).trim(), "");
    });

    await t.step("a count of 2: the importer and the first member lacking it (m2)", async () => {
      await ok(m3, ["config", "set", "cluster.images_minimal_replica=2"]);
      await ok(m1, ["image", "import", image, "--alias", "bb"]);
      await waitFor("image on m1 and m2", async () => (await held()) === "m1,m2", 30_000, 200);
      // m3 is not asked: it stays without the file while the count is met.
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal(await held(), "m1,m2");
    });

    await t.step("-1: every member holds it, listed once through any member", async () => {
      await ok(m2, ["config", "set", "cluster.images_minimal_replica=-1"]);
      await waitFor("image on every member", async () => (await held()) === "m1,m2,m3", 30_000, 200);
      const list = (await ok(m3, ["image", "list", "--format", "csv"])).trim().split("\n");
      assert.equal(list.length, 1);
    });

    await t.step("a copy's export answers a range (a fetch resuming), and 416 outside the file", async () => {
      const size = (await Deno.stat(image)).size;
      const get = async (range: string) => {
        const r = await run("curl", [
          "-s",
          "-D",
          "-",
          "-o",
          "/dev/null",
          "-w",
          "%{size_download}",
          "-r",
          range,
          "--unix-socket",
          m2.socket,
          `http://m2/1.0/images/${fp}/export`,
        ]);
        assert.equal(r.code, 0, r.stderr);
        return r.stdout;
      };
      const part = await get("100-");
      assert.match(part, /^HTTP\/1\.1 206/);
      assert.match(part, new RegExp(`content-range: bytes 100-${size - 1}/${size}`, "i"));
      assert.ok(part.endsWith(`\r\n\r\n${size - 100}`), part);
      const bad = await get(`${size}-`);
      assert.match(bad, /^HTTP\/1\.1 416/);
      assert.match(bad, new RegExp(`content-range: bytes \\*/${size}`, "i"));
    });

    await t.step("deleting the image through m3 removes every member's copy", async () => {
      await ok(m3, ["image", "delete", "bb"]);
      await waitFor("no copy left", async () => (await held()) === "", 30_000, 200);
      for (const m of members) {
        assert.equal(await Deno.stat(`${m.dir}/images/${fp}`).then(() => true, () => false), false);
      }
    });

    await t.step(
      "an image of a project of its own is copied too (its one file serves the project)",
      async () => {
        await ok(m1, ["project", "create", "imgs", "-c", "features.images=true"]);
        await ok(m1, ["image", "import", image, "--alias", "bb", "--project", "imgs"]);
        await waitFor(
          "project image on every member",
          async () => (await held()) === "m1,m2,m3",
          30_000,
          200,
        );
        assert.equal((await ok(m2, ["image", "list", "--format", "csv"])).trim(), "");
      },
    );

    await t.step("a launch on a member lacking the image tells LXD's download_progress", async () => {
      await ok(m1, ["config", "set", "cluster.images_minimal_replica=1"]);
      const third = await busyboxImage(tmp.path, "tar.xz");
      const fp3 = await sha256(third);
      await ok(m1, ["image", "import", third]);
      const c = m3.client();
      try {
        const r = await c.request("POST", "/1.0/instances?target=m3", {
          body: { name: "fetched", source: { type: "image", fingerprint: fp3 } },
        });
        const op = await c.waitOperation(r.operation!);
        assert.equal(op.status, "Success", op.err);
        const shown = (op.metadata as Record<string, string> | null)?.download_progress ?? "";
        assert.match(shown, /^100% \(\d+(\.\d+)?[kMG]?B\/s\)$/);
        assert.equal(await sameBytes(third, `${m3.dir}/images/${fp3}`), true);
        const gone = await c.waitOperation((await c.request("DELETE", "/1.0/instances/fetched")).operation!);
        assert.equal(gone.status, "Success", gone.err);
      } finally {
        c.close();
      }
    });
    await t.step(
      "a holder lost: the first member lacking the image takes a copy to keep the count",
      async () => {
        await ok(m1, ["config", "set", "cluster.offline_threshold=11"]);
        await ok(m1, ["config", "set", "cluster.images_minimal_replica=2"]);
        const other = await busyboxImage(tmp.path, "tar");
        const fp2 = await sha256(other);
        const holders = async () => {
          const out: string[] = [];
          for (const m of members) if (await sameBytes(other, `${m.dir}/images/${fp2}`)) out.push(m.name);
          return out.join(",");
        };
        await ok(m1, ["image", "import", other, "--alias", "bb2"]);
        await waitFor("second image on m1 and m2", async () => (await holders()) === "m1,m2", 30_000, 200);
        await m2.kill();
        await waitFor(
          "a copy on m3 once m2 is offline",
          async () => (await holders()) === "m1,m2,m3",
          90_000,
          500,
        );
      },
    );
  } finally {
    await Promise.allSettled(members.map((m) => m.stop()));
  }
});
