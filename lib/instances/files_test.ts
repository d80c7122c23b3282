import assert from "node:assert/strict";
import { resolveInRoot } from "./files.ts";

Deno.test("paths resolve inside the root: .. and symlinks cannot leave it", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${root}/etc`);
    await Deno.writeTextFile(`${root}/etc/passwd`, "container\n");
    await Deno.symlink("/etc/passwd", `${root}/abs`);
    await Deno.symlink("../../../../etc", `${root}/etc/up`);
    assert.equal(resolveInRoot(root, "/etc/passwd"), `${root}/etc/passwd`);
    assert.equal(resolveInRoot(root, "/../../../etc/passwd"), `${root}/etc/passwd`);
    assert.equal(resolveInRoot(root, "/abs"), `${root}/etc/passwd`);
    assert.equal(resolveInRoot(root, "/abs", false), `${root}/abs`);
    assert.equal(resolveInRoot(root, "/etc/up/passwd"), `${root}/etc/passwd`);
    assert.equal(resolveInRoot(root, "/"), root);
    assert.equal(resolveInRoot(root, "/new/file"), `${root}/new/file`);
    await Deno.symlink("loop", `${root}/loop`);
    assert.throws(() => resolveInRoot(root, "/loop/x"), /Too many levels/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
