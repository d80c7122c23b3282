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

Deno.test("LocalDB keeps raft_nodes in memory, hands out copies, and reads again after a replace", async () => {
  const dir = await Deno.makeTempDir();
  const local = new LocalDB(`${dir}/local.db`);
  try {
    local.replaceRaftNodes([{ id: 1, address: "127.0.0.1:8443", role: 0, name: "m1" }]);
    const nodes = local.raftNodes();
    nodes[0]!.name = "changed by a caller";
    assert.equal(local.raftNodes()[0]!.name, "m1");
    local.replaceRaftNodes([{ id: 2, address: "127.0.0.2:8443", role: 1, name: "m2" }]);
    assert.deepEqual(local.raftNodes(), [{ id: 2, address: "127.0.0.2:8443", role: 1, name: "m2" }]);
    assert.equal(local.raftAddress(2), "127.0.0.2:8443");
    assert.equal(local.raftAddress(1), "", "replaced");
  } finally {
    local.close();
    await Deno.remove(dir, { recursive: true });
  }
});
