import assert from "node:assert/strict";
import { LocalDB } from "./local.ts";

Deno.test("LocalDB answers config from memory, and reads again after update() or invalidate()", async () => {
  const dir = await Deno.makeTempDir();
  const local = new LocalDB(`${dir}/local.db`);
  try {
    assert.equal(local.get("core.https_address"), "");
    local.update({ "core.https_address": "127.0.0.1:8443" });
    assert.equal(local.get("core.https_address"), "127.0.0.1:8443");
    // SQL that bypasses update() (`shoald sql local`) is seen once the daemon invalidates.
    local.db.exec("UPDATE config SET value = '127.0.0.2:8443' WHERE key = 'core.https_address'");
    assert.equal(local.get("core.https_address"), "127.0.0.1:8443");
    local.invalidate();
    assert.deepEqual(local.config(), { "core.https_address": "127.0.0.2:8443" });
    local.update({ "core.https_address": "" });
    assert.deepEqual(local.config(), {});
  } finally {
    local.close();
    await Deno.remove(dir, { recursive: true });
  }
});
