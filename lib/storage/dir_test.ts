import assert from "node:assert/strict";
import { DirPool } from "./dir.ts";

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

Deno.test("dir pool snapshots: a full copy each, restored in place, gone with their instance", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "shoal-dir-" });
  try {
    const pool = new DirPool("p", tmp);
    await pool.create();
    const c1 = await pool.createContainerVolume("c1");
    await Deno.chmod(c1, 0o700);
    await Deno.mkdir(`${c1}/rootfs`);
    await Deno.writeTextFile(`${c1}/rootfs/mark`, "one");
    await pool.createSnapshot("c1", "snap0");
    assert.equal(pool.snapshotPath("c1", "snap0"), `${tmp}/p/containers-snapshots/c1/snap0`);
    assert.equal(await Deno.readTextFile(`${pool.snapshotPath("c1", "snap0")}/rootfs/mark`), "one");

    await Deno.writeTextFile(`${c1}/rootfs/mark`, "two");
    await Deno.writeTextFile(`${c1}/rootfs/later`, "x");
    await pool.restoreSnapshot("c1", "snap0");
    assert.equal(await Deno.readTextFile(`${c1}/rootfs/mark`), "one");
    assert.ok(!await exists(`${c1}/rootfs/later`));
    assert.ok(!await exists(`${c1}.restoring`), "the set-aside volume outlived the restore");
    // The snapshot itself is untouched by the restore.
    assert.equal(await Deno.readTextFile(`${pool.snapshotPath("c1", "snap0")}/rootfs/mark`), "one");

    await pool.renameSnapshot("c1", "snap0", "before");
    await pool.createSnapshot("c1", "snap1");
    await pool.deleteSnapshot("c1", "snap1");
    assert.ok(!await exists(pool.snapshotPath("c1", "snap1")));
    assert.ok(await exists(pool.snapshotPath("c1", "before")));
    await pool.deleteSnapshots("c1");
    assert.ok(!await exists(`${tmp}/p/containers-snapshots/c1`));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
