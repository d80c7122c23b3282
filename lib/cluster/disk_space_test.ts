import assert from "node:assert/strict";
import { hasSpace, isDiskFull } from "./disk_space.ts";

Deno.test("isDiskFull() knows SQLite's SQLITE_FULL and the OS's ENOSPC, nothing else", () => {
  assert.equal(isDiskFull(Object.assign(new Error("database or disk is full"), { errcode: 13 })), true);
  assert.equal(isDiskFull(new Error("No space left on device (os error 28)")), true);
  assert.equal(isDiskFull(Object.assign(new Error("disk I/O error"), { errcode: 10 })), false);
  assert.equal(isDiskFull(Object.assign(new Error("UNIQUE constraint failed"), { errcode: 2067 })), false);
});

Deno.test("hasSpace() writes a probe and leaves nothing behind", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.equal(hasSpace(dir), true);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    assert.equal(hasSpace(`${dir}/missing`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
