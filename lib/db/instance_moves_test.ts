import assert from "node:assert/strict";
import { GlobalDB, LocalConsensus } from "./global.ts";
import { GlobalFsm } from "./fsm.ts";
import { updateGlobalSchema } from "./schema_update.ts";
import { addNode, ensureStandaloneNode } from "./nodes.ts";
import { createInstance, createInstanceVolume, findInstance, setInstanceKeys } from "./instances.ts";
import { createPool } from "./storage_pools.ts";
import { callOffMove, MOVE_KEY, relocateInstance, renameInstanceRecords } from "./instance_moves.ts";
import { StatusError } from "../util/mod.ts";

async function fresh() {
  const dir = await Deno.makeTempDir();
  const fsm = new GlobalFsm(`${dir}/db.sqlite`);
  const db = new GlobalDB(fsm, new LocalConsensus(fsm));
  await db.run(updateGlobalSchema, {});
  await db.run(ensureStandaloneNode, { arch: "x86_64", apiExtensions: 1 });
  await db.run(addNode, { name: "m2", address: "127.0.0.2:8443", arch: "x86_64", apiExtensions: 1 });
  await db.run(createPool, { name: "default", driver: "dir", description: "", config: {}, member: "none" });
  for (const name of ["c1", "c2"]) {
    await db.run(createInstance, {
      name,
      architecture: "x86_64",
      type: "container",
      ephemeral: false,
      description: "",
      profiles: ["default"],
      config: {},
      devices: {},
      member: "none",
    });
    await db.run(createInstanceVolume, { name, pool: "default", member: "none" });
  }
  return {
    db,
    async [Symbol.asyncDispose]() {
      fsm.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const volumeNode = (db: GlobalDB, name: string) =>
  db.read((tx) =>
    tx.get<{ node: string }>(
      "SELECT nodes.name AS node FROM storage_volumes JOIN nodes ON nodes.id = node_id WHERE storage_volumes.name = ? AND type = 0",
      name,
    )?.node
  );

function status(e: unknown): number {
  return e instanceof StatusError ? e.status : 0;
}

Deno.test("a relocation moves the instance's row and its volume's row together, renamed if asked", async () => {
  await using f = await fresh();
  await f.db.run(setInstanceKeys, { name: "c1", keys: { [MOVE_KEY]: "m-1" } });
  await f.db.run(relocateInstance, { name: "c1", from: "none", to: "m2", newName: "c9", moveId: "m-1" });
  const rec = await f.db.read((tx) => findInstance(tx, "c9"));
  assert.equal(rec?.location, "m2");
  assert.equal(rec?.config[MOVE_KEY], undefined, "the move's key goes with the commit");
  assert.equal(await volumeNode(f.db, "c9"), "m2");
  assert.equal(await volumeNode(f.db, "c1"), undefined);
  // A second relocation of the same move finds it elsewhere: refused, nothing changes.
  const e = await f.db.run(relocateInstance, { name: "c9", from: "none", to: "m2" }).catch((x) => x);
  assert.equal(status(e), 409);
});

Deno.test("a move called off by its source can no longer commit; whichever commits first wins", async () => {
  await using f = await fresh();
  await f.db.run(setInstanceKeys, { name: "c1", keys: { [MOVE_KEY]: "m-1" } });
  await f.db.run(callOffMove, { name: "c1", moveId: "m-1" });
  const e = await f.db.run(relocateInstance, { name: "c1", from: "none", to: "m2", moveId: "m-1" }).catch((
    x,
  ) => x);
  assert.equal(status(e), 409);
  assert.equal((await f.db.read((tx) => findInstance(tx, "c1")))?.location, "none");
  // Committed first: calling it off afterwards changes nothing.
  await f.db.run(setInstanceKeys, { name: "c1", keys: { [MOVE_KEY]: "m-2" } });
  await f.db.run(relocateInstance, { name: "c1", from: "none", to: "m2", moveId: "m-2" });
  await f.db.run(callOffMove, { name: "c1", moveId: "m-2" });
  assert.equal((await f.db.read((tx) => findInstance(tx, "c1")))?.location, "m2");
});

Deno.test("a rename refuses a name in use with LXD's text and renames the volume's row", async () => {
  await using f = await fresh();
  const e = await f.db.run(renameInstanceRecords, { name: "c1", newName: "c2" }).catch((x) => x);
  assert.equal(status(e), 409);
  assert.match(String(e.message), /Name "c2" already in use/);
  await f.db.run(renameInstanceRecords, { name: "c1", newName: "c3" });
  assert.equal(await volumeNode(f.db, "c3"), "none");
});
