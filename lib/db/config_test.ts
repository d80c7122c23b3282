import assert from "node:assert/strict";
import { GlobalDB, LocalConsensus } from "./global.ts";
import { GlobalFsm } from "./fsm.ts";
import { readGlobalConfig, type ServerConfigRequest, shownConfig, updateServerConfig } from "./config.ts";
import { updateGlobalSchema } from "./schema_update.ts";
import { etag, StatusError } from "../util/mod.ts";

async function fresh() {
  const dir = await Deno.makeTempDir();
  const fsm = new GlobalFsm(`${dir}/db.sqlite`);
  const db = new GlobalDB(fsm, new LocalConsensus(fsm));
  await db.run(updateGlobalSchema, {});
  const update = (a: Partial<ServerConfigRequest> & Pick<ServerConfigRequest, "requested">) =>
    db.run(updateServerConfig, { mode: "patch", local: {}, clustered: false, ...a });
  return { fsm, db, update, [Symbol.dispose]: () => fsm.close() };
}

const refused = (status: number, message: RegExp) => (e: unknown) =>
  e instanceof StatusError && e.status === status && message.test(e.message);

Deno.test("updateServerConfig: PATCH merges, PUT unsets what it leaves out, local keys come back to apply", async () => {
  using t = await fresh();
  await t.update({ requested: { "user.a": "1", "user.b": "2" } });
  await t.update({ requested: { "user.b": "3" } });
  assert.deepEqual(await t.db.read(readGlobalConfig), { "user.a": "1", "user.b": "3" });
  const r = await t.update({
    mode: "put",
    requested: { "user.b": "3", "core.https_address": "127.0.0.1:8443" },
  });
  assert.deepEqual(r, { local: { "core.https_address": "127.0.0.1:8443" } });
  assert.deepEqual(await t.db.read(readGlobalConfig), { "user.b": "3" });
});

Deno.test("updateServerConfig checks If-Match against the config it changes, local keys included", async () => {
  using t = await fresh();
  await t.update({ requested: { "user.a": "1" } });
  const local = { "core.https_address": "127.0.0.1:8443" };
  const current = etag(shownConfig({ "user.a": "1" }, local));
  await assert.rejects(
    t.update({ requested: { "user.a": "2" }, local, ifMatch: etag(shownConfig({ "user.a": "1" }, {})) }),
    refused(412, /ETag doesn't match/),
  );
  assert.deepEqual(await t.db.read(readGlobalConfig), { "user.a": "1" });
  await t.update({ requested: { "user.a": "2" }, local, ifMatch: current });
  assert.deepEqual(await t.db.read(readGlobalConfig), { "user.a": "2" });
});

Deno.test("updateServerConfig refuses bad values and a clustered member's new cluster address, writing nothing", async () => {
  using t = await fresh();
  await assert.rejects(
    t.update({ requested: { "user.a": "1", "cluster.offline_threshold": "x" } }),
    refused(400, /offline_threshold/),
  );
  await assert.rejects(
    t.update({ requested: { "user.a": "1", "cluster.https_address": "127.0.0.9:8443" }, clustered: true }),
    refused(400, /Changing cluster.https_address is currently not supported/),
  );
  assert.deepEqual(await t.db.read(readGlobalConfig), {});
});

Deno.test("updateServerConfig keeps a secret sent back as true, as GET /1.0 shows it", async () => {
  using t = await fresh();
  await t.update({ requested: { "core.trust_password": "hashed-by-the-route" } });
  assert.deepEqual(shownConfig(await t.db.read(readGlobalConfig), {}), { "core.trust_password": true });
  await t.update({ mode: "put", requested: { "core.trust_password": true } });
  assert.deepEqual(await t.db.read(readGlobalConfig), { "core.trust_password": "hashed-by-the-route" });
});

Deno.test("updateServerConfig keeps an API address given without a port with LXD's 8443", async () => {
  using t = await fresh();
  const set = async (v: string) =>
    (await t.update({ requested: { "core.https_address": v } })).local["core.https_address"];
  assert.equal(await set("127.0.0.5"), "127.0.0.5:8443");
  assert.equal(await set("127.0.0.5:9443"), "127.0.0.5:9443");
  assert.equal(await set("[::1]"), "[::1]:8443");
  assert.equal(await set("[::1]:7443"), "[::1]:7443");
  assert.equal(
    (await t.update({ requested: { "core.metrics_address": "127.0.0.5" } })).local["core.metrics_address"],
    "127.0.0.5",
  );
});

Deno.test("updateServerConfig: a PATCH reads only its keys, and still judges them against the whole config", async () => {
  using t = await fresh();
  // Healing against a fence time stored by an earlier write that this PATCH does not name.
  await t.update({ requested: { "cluster.fence_time": "20", "user.other": "x" } });
  await assert.rejects(
    t.update({ requested: { "cluster.healing_threshold": "25" } }),
    refused(400, /must exceed cluster.fence_time \(20\)/),
  );
  await t.update({ requested: { "cluster.healing_threshold": "30" } });
  await assert.rejects(
    t.update({ requested: { "cluster.fence_time": "21" } }),
    refused(400, /healing_threshold \(30\) must exceed cluster.fence_time \(21\)/),
  );
  // Unchanged and unset-when-unset values write nothing; a local key shown as set is compared
  // with this member's value, and a secret sent back as true is kept.
  await t.update({ requested: { "core.trust_password": "hashed" } });
  const r = await t.update({
    requested: {
      "user.other": "x",
      "user.never": "",
      "core.https_address": "127.0.0.1:8443",
      "core.trust_password": true,
    },
    local: { "core.https_address": "127.0.0.1:8443" },
  });
  assert.deepEqual(r, { local: {} });
  assert.deepEqual(await t.db.read(readGlobalConfig), {
    "cluster.fence_time": "20",
    "cluster.healing_threshold": "30",
    "core.trust_password": "hashed",
    "user.other": "x",
  });
  await t.update({ requested: { "user.other": "" } });
  assert.deepEqual(Object.keys(await t.db.read(readGlobalConfig)), [
    "cluster.fence_time",
    "cluster.healing_threshold",
    "core.trust_password",
  ]);
});
