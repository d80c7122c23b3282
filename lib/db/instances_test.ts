import assert from "node:assert/strict";
import { GlobalDB, LocalConsensus } from "./global.ts";
import { GlobalFsm } from "./fsm.ts";
import { updateGlobalSchema } from "./schema_update.ts";
import { ensureStandaloneNode } from "./nodes.ts";
import {
  createInstance,
  deleteInstance,
  getInstance,
  instanceNamesOn,
  listInstances,
  setInstanceKeys,
} from "./instances.ts";
import { createAlias, createImage, findImage, getAlias, listImages } from "./images.ts";
import { createPool, getPool } from "./storage_pools.ts";
import { getProfile, updateProfile } from "./profiles.ts";
import { StatusError } from "../util/mod.ts";

async function fresh() {
  const dir = await Deno.makeTempDir();
  const fsm = new GlobalFsm(`${dir}/db.sqlite`);
  const db = new GlobalDB(fsm, new LocalConsensus(fsm));
  await db.run(updateGlobalSchema, {});
  await db.run(ensureStandaloneNode, { arch: "x86_64", apiExtensions: 1 });
  return {
    db,
    async [Symbol.asyncDispose]() {
      fsm.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const root = { root: { type: "disk", path: "/", pool: "default" } };

Deno.test("standalone, instances, pools and images belong to the 'none' member (nodes id 1)", async () => {
  await using f = await fresh();
  const { db } = f;
  await db.run(createPool, {
    name: "default",
    driver: "dir",
    description: "",
    config: { source: "/x" },
    member: "none",
  });
  const pool = await db.read((tx) => getPool(tx, "default", "none"));
  assert.deepEqual(pool.config, { source: "/x" });
  assert.deepEqual(pool.locations, ["none"]);
  await db.run(updateProfile, {
    name: "default",
    description: "Default LXD profile",
    config: {},
    devices: root,
  });
  assert.deepEqual((await db.read((tx) => getProfile(tx, "default"))).devices, root);
  await db.run(createInstance, {
    name: "c1",
    architecture: "x86_64",
    type: "container",
    ephemeral: false,
    description: "",
    profiles: ["default"],
    config: { "limits.cpu": "1" },
    devices: {},
    member: "none",
  });
  const i = await db.read((tx) => getInstance(tx, "c1"));
  assert.equal(i.location, "none");
  assert.deepEqual(i.profiles, ["default"]);
  assert.deepEqual(i.config, { "limits.cpu": "1" });
  assert.deepEqual((await db.read((tx) => getProfile(tx, "default"))).used_by, ["/1.0/instances/c1"]);
  await db.run(setInstanceKeys, { name: "c1", keys: { "volatile.last_state.power": "RUNNING" } });
  assert.equal((await db.read((tx) => getInstance(tx, "c1"))).config["volatile.last_state.power"], "RUNNING");
  const dup = await db.run(createInstance, {
    name: "c1",
    architecture: "x86_64",
    type: "container",
    ephemeral: false,
    description: "",
    profiles: [],
    config: {},
    devices: {},
    member: "none",
  }).catch((e) => e);
  assert.ok(dup instanceof StatusError);
  assert.equal(dup.status, 409);
  assert.equal(dup.message, 'Instance "c1" already exists');
  assert.equal((await db.read((tx) => listInstances(tx, "none"))).length, 1);
  // What fencing stops, in one query (a spare keeps it fetched ahead).
  const queries: string[] = [];
  const names = await db.read((tx) =>
    instanceNamesOn({
      query: (sql, ...p) => (queries.push(sql), tx.query(sql, ...p)),
      get: (sql, ...p) => (queries.push(sql), tx.get(sql, ...p)),
    }, "none")
  );
  assert.deepEqual(names.map((r) => ({ ...r })), [{ project: "default", name: "c1" }]);
  assert.equal(queries.length, 1);
  assert.deepEqual(await db.read((tx) => instanceNamesOn(tx, "m9")), []);
  await db.run(deleteInstance, { name: "c1" });
  assert.deepEqual(await db.read((tx) => listInstances(tx)), []);
});

Deno.test("images: fingerprint prefixes, aliases, properties, and LXD's 404 and 409 texts", async () => {
  await using f = await fresh();
  const { db } = f;
  const fp = "ab".repeat(32);
  await db.run(createImage, {
    fingerprint: fp,
    filename: "bb.tar.gz",
    size: 10,
    public: false,
    architecture: "x86_64",
    createdAt: null,
    properties: { os: "busybox" },
    member: "none",
  });
  const img = await db.read((tx) => findImage(tx, "abab"));
  assert.equal(img.fingerprint, fp);
  assert.deepEqual(img.properties, { os: "busybox" });
  assert.deepEqual(img.locations, ["none"]);
  await db.run(createAlias, { name: "bb", target: fp, description: "" });
  assert.equal((await db.read((tx) => getAlias(tx, "bb"))).target, fp);
  assert.deepEqual((await db.read((tx) => listImages(tx)))[0]!.aliases, [{ name: "bb", description: "" }]);
  const again = await db.run(createAlias, { name: "bb", target: fp, description: "" }).catch((e) => e);
  assert.equal(again.message, "Alias already exists");
  const missing = await db.read((tx) => findImage(tx, "cd")).catch((e) => e);
  assert.equal(missing.status, 404);
  assert.equal(missing.message, "Image not found");
});
