/**
 * Files and names (issue 11's findings, each failing on the code before it): the databases,
 * logs and keys are the owner's only, also after writes and a restart; names that would become
 * paths outside their place (".", "..", slashes) are refused with LXD's texts for pools,
 * volumes, networks and image aliases, and change nothing. Unix socket only.
 */
import assert from "node:assert/strict";
import { Member, tempDir } from "../helpers/member.ts";
import { PRESEED } from "../compat/instances_helpers.ts";

/** Every file under dir whose mode lets group or others in, with its mode. */
async function open(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      const st = await Deno.lstat(p);
      if (st.isSymlink) continue;
      if (st.isDirectory) await walk(p);
      else if ((st.mode! & 0o077) !== 0) out.push(`${p.slice(dir.length)} ${(st.mode! & 0o777).toString(8)}`);
    }
  };
  await walk(dir);
  return out;
}

Deno.test("databases, logs and keys are private; names that climb out are refused", async (t) => {
  await using tmp = await tempDir("trust-files");
  const m = await new Member(`${tmp.path}/m1`).start();
  try {
    assert.equal((await m.shoald(["init", "--preseed"], { stdin: PRESEED })).code, 0);
    assert.equal((await m.shoal(["config", "set", "core.trust_password=secret", "user.x=1"])).code, 0);

    await t.step("database, log and key files are 0600, their directories 0700", async () => {
      const check = async () => {
        assert.deepEqual(await open(`${m.dir}/database`), []);
        assert.deepEqual(await open(`${m.dir}/logs`), []);
        assert.equal((await Deno.stat(`${m.dir}/server.key`)).mode! & 0o777, 0o600);
        for (const d of ["database", "database/global", "logs"]) {
          assert.equal((await Deno.stat(`${m.dir}/${d}`)).mode! & 0o777, 0o700, d);
        }
        assert.equal((await Deno.stat(`${m.dir}`)).mode! & 0o777, 0o711);
      };
      await check();
      await m.stop();
      await m.start();
      await check();
    });

    await t.step("pool names: . and .. and slashes refused; $SHOAL_DIR is untouched", async () => {
      const c = m.client();
      const before = (await c.request<string[]>("GET", "/1.0/storage-pools")).metadata;
      const refused: [name: string, why: string][] = [
        ["..", 'Invalid pool name "..": Cannot be ".."'],
        [".", 'Invalid pool name ".": Cannot be "."'],
        ["a/b", 'Invalid pool name "a/b": Cannot contain slashes'],
        [".hidden", 'Invalid pool name ".hidden": Cannot start with a dot'],
        ["a b", 'Invalid pool name "a b": Cannot contain white space'],
      ];
      for (const [name, why] of refused) {
        const e = await c.request("POST", "/1.0/storage-pools", { body: { name, driver: "dir" } }).catch((
          x,
        ) => x);
        assert.equal(e.status, 400, name);
        assert.equal(e.message, why);
      }
      const del = await c.request("DELETE", "/1.0/storage-pools/%2E%2E").catch((x) => x);
      assert.equal(del.status, 404);
      assert.deepEqual((await c.request<string[]>("GET", "/1.0/storage-pools")).metadata, before);
      for (const d of ["containers", "images", "storage-pools/default/containers"]) {
        assert.ok((await Deno.stat(`${m.dir}/${d}`)).isDirectory, d);
      }
    });

    await t.step("volume, network and image alias names: the same rule", async () => {
      const c = m.client();
      const refuse = async (path: string, body: unknown, text: RegExp) => {
        const e = await c.request("POST", path, { body }).catch((x) => x);
        assert.equal(e.status, 400, `${path} ${JSON.stringify(body)}: ${e.message}`);
        assert.match(e.message, text);
      };
      await refuse(
        "/1.0/storage-pools/default/volumes/custom",
        { name: ".." },
        /Invalid volume name "\.\.": Cannot be "\.\."/,
      );
      await refuse(
        "/1.0/storage-pools/default/volumes/custom",
        { name: "a\\b" },
        /Cannot contain backslashes/,
      );
      await refuse("/1.0/networks", { name: ".." }, /Invalid network name "\.\.": Cannot be "\.\."/);
      await refuse(
        "/1.0/images/aliases",
        { name: "..", target: "x" },
        /Invalid image alias name "\.\.": Cannot be "\.\."/,
      );
      await refuse("/1.0/images/aliases", { name: "a b", target: "x" }, /Cannot contain white space/);
      assert.deepEqual(
        (await c.request<string[]>("GET", "/1.0/storage-pools/default/volumes/custom")).metadata,
        [],
      );
    });
  } finally {
    await m.stop();
  }
});
