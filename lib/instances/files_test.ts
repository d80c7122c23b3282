import assert from "node:assert/strict";
import { InRoot, splitPath } from "./files.ts";
import { SysError } from "./sys.ts";

async function withRoot(fn: (root: string, outside: string) => Promise<void>): Promise<void> {
  const top = await Deno.makeTempDir();
  const root = `${top}/rootfs`;
  const outside = `${top}/host`;
  try {
    await Deno.mkdir(`${root}/etc`, { recursive: true });
    await Deno.mkdir(outside);
    await Deno.writeTextFile(`${root}/etc/passwd`, "container\n");
    await Deno.writeTextFile(`${outside}/secret`, "host\n");
    await Deno.chmod(`${outside}/secret`, 0o600);
    await fn(root, outside);
  } finally {
    await Deno.remove(top, { recursive: true });
  }
}

Deno.test("paths split lexically: .. stops at the root", () => {
  assert.deepEqual(splitPath("/etc/passwd"), { parent: "etc", name: "passwd" });
  assert.deepEqual(splitPath("/../../etc/./x/../passwd"), { parent: "etc", name: "passwd" });
  assert.deepEqual(splitPath("/"), { parent: ".", name: "" });
  assert.deepEqual(splitPath("f"), { parent: ".", name: "f" });
});

Deno.test("reads resolve inside the root: .. and symlinks (absolute too) cannot leave it", async () => {
  await withRoot(async (root, outside) => {
    await Deno.symlink("/etc/passwd", `${root}/abs`);
    await Deno.symlink("../../../../etc", `${root}/etc/up`);
    await Deno.symlink(outside, `${root}/hostdir`);
    using r = new InRoot(root);
    const read = async (p: string) => {
      const { file } = await r.openFile(p);
      return await new Response(file.readable).text();
    };
    assert.equal(await read("/etc/passwd"), "container\n");
    assert.equal(await read("/../../../etc/passwd"), "container\n");
    assert.equal(await read("/abs"), "container\n");
    assert.equal(await read("/etc/up/passwd"), "container\n");
    // The link to the host directory resolves to /host... inside the root: nothing there.
    await assert.rejects(read("/hostdir/secret"), (e) => e instanceof SysError && e.errno === 2);
    assert.equal(r.stat("/abs").type, "symlink");
    assert.equal(r.readlink("/abs"), "/etc/passwd");
    assert.deepEqual(await r.readDir("/"), ["abs", "etc", "hostdir"]);
    await Deno.symlink("loop", `${root}/loop`);
    await assert.rejects(read("/loop/x"), /Too many levels/);
  });
});

Deno.test("writes through a symlink to the host land inside the root; owner and mode go to the file written", async () => {
  await withRoot(async (root, outside) => {
    await Deno.symlink(`${outside}/secret`, `${root}/evil`);
    using r = new InRoot(root);
    // Resolved in the root, the link's target is <root><outside>/secret, whose directory does not exist.
    await assert.rejects(
      r.writeFile("/evil", new TextEncoder().encode("pushed\n"), { mode: 0o666, uid: 1234, gid: 1234 }),
      (e) => e instanceof SysError && e.errno === 2,
    );
    assert.equal(await Deno.readTextFile(`${outside}/secret`), "host\n");
    const host = await Deno.stat(`${outside}/secret`);
    assert.equal(host.mode! & 0o777, 0o600);
    assert.equal(host.uid, 0);
    await Deno.mkdir(`${root}${outside}`, { recursive: true });
    await Deno.writeTextFile(`${root}${outside}/secret`, "in the container\n");
    await r.writeFile("/evil", new TextEncoder().encode("pushed\n"), { mode: 0o640, uid: 1234, gid: 1234 });
    assert.equal(await Deno.readTextFile(`${root}${outside}/secret`), "pushed\n");
    const st = await Deno.stat(`${root}${outside}/secret`);
    assert.equal(st.mode! & 0o777, 0o640);
    assert.equal(st.uid, 1234);
    assert.equal(await Deno.readTextFile(`${outside}/secret`), "host\n");
  });
});

Deno.test("a directory, a symlink and a removal act on the entry in the root, never on a host path", async () => {
  await withRoot(async (root, outside) => {
    using r = new InRoot(root);
    r.mkdir("/d", { mode: 0o750, uid: 5, gid: 6 });
    const d = await Deno.stat(`${root}/d`);
    assert.equal(d.mode! & 0o777, 0o750);
    assert.equal(d.uid, 5);
    r.symlink("/d/l", outside);
    assert.equal(await Deno.readLink(`${root}/d/l`), outside);
    r.remove("/d/l");
    assert.ok((await Deno.stat(outside)).isDirectory);
    // A directory replaced by a symlink to the host: mkdir of it refuses, never chmods the host.
    await Deno.remove(`${root}/d`);
    await Deno.symlink(outside, `${root}/d`);
    const before = (await Deno.stat(outside)).mode! & 0o7777;
    assert.throws(() => r.mkdir("/d", { mode: 0o777 }));
    assert.equal((await Deno.stat(outside)).mode! & 0o7777, before);
    assert.throws(() => r.remove("/"), SysError);
  });
});

Deno.test("a file under a shifted root: owners are container ids outside, host ids on disk", async () => {
  await withRoot(async (root) => {
    const map = [
      { Isuid: true, Isgid: false, Hostid: 1_000_000, Nsid: 0, Maprange: 65536 },
      { Isuid: false, Isgid: true, Hostid: 1_000_000, Nsid: 0, Maprange: 65536 },
    ];
    using r = new InRoot(root, { map });
    await r.writeFile("/f", new TextEncoder().encode("x"), {});
    const st = await Deno.stat(`${root}/f`);
    assert.equal(st.uid, 1_000_000);
    assert.equal(st.mode! & 0o777, 0o644);
    assert.equal(r.stat("/f").uid, 0);
    await r.writeFile("/f", new TextEncoder().encode("y"), { uid: 1000, gid: 1000, append: true });
    assert.equal((await Deno.stat(`${root}/f`)).uid, 1_001_000);
    assert.equal(await Deno.readTextFile(`${root}/f`), "xy");
  });
});

Deno.test("strict: no symlink at all is crossed (an image's templates/)", async () => {
  await withRoot(async (root) => {
    await Deno.symlink("/etc/passwd", `${root}/link`);
    using r = new InRoot(root, { strict: true });
    await assert.rejects(r.openFile("/link"));
    await assert.rejects(r.openFile("/../etc/passwd"));
    assert.equal(await new Response((await r.openFile("/etc/passwd")).file.readable).text(), "container\n");
  });
});
