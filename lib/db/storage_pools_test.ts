/**
 * The database side of two-phase pools and networks (LXD's texts): a member's part defined
 * once, Pending until every member is defined, each member's own keys kept apart from the
 * global ones, Created everywhere at the finish, and a member's volumes blocking its removal.
 */
import assert from "node:assert/strict";
import { GlobalDB, LocalConsensus } from "./global.ts";
import { GlobalFsm } from "./fsm.ts";
import { updateGlobalSchema } from "./schema_update.ts";
import { addNode } from "./nodes.ts";
import {
  definePoolMember,
  findPool,
  finishPool,
  getPool,
  pendingPoolParts,
  updatePool,
} from "./storage_pools.ts";
import { defineNetworkMember, finishNetwork, getNetwork, pendingNetworkParts } from "./networks.ts";
import { createCustomVolume, memberVolumesProblem } from "./volumes.ts";

async function cluster() {
  const dir = await Deno.makeTempDir();
  const fsm = new GlobalFsm(`${dir}/db.sqlite`);
  const db = new GlobalDB(fsm, new LocalConsensus(fsm));
  await db.run(updateGlobalSchema, {});
  for (const [i, name] of ["m1", "m2", "m3"].entries()) {
    await db.run(addNode, { name, address: `127.0.0.${i + 1}:8443`, arch: "x86_64", apiExtensions: 1 });
  }
  return {
    db,
    async [Symbol.asyncDispose]() {
      fsm.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const define = (member: string, source: string) => ({
  name: "data",
  driver: "dir",
  description: "",
  config: { source },
  member,
});

Deno.test("pools in two phases: pending per member, refused twice or before all, created with each member's keys", async () => {
  await using c = await cluster();
  const { db } = c;
  await db.run(definePoolMember, define("m1", "/a"));
  await assert.rejects(
    db.run(definePoolMember, define("m1", "/a")),
    /The storage pool already defined on member "m1"/,
  );
  await assert.rejects(db.run(definePoolMember, define("m9", "/a")), /Cluster member not found/);
  await assert.rejects(
    db.run(definePoolMember, { ...define("m2", "/b"), driver: "btrfs" }),
    /Storage pool already exists with a different driver/,
  );
  await db.run(definePoolMember, define("m2", "/b"));
  assert.throws(
    () => db.readStale((tx) => pendingPoolParts(tx, "data", "dir")),
    /Pool not defined on nodes: m3/,
  );
  assert.throws(
    () => db.readStale((tx) => pendingPoolParts(tx, "nope", "dir")),
    /Pool not pending on any node/,
  );
  await db.run(definePoolMember, define("m3", "/c"));
  assert.throws(
    () => db.readStale((tx) => pendingPoolParts(tx, "data", "btrfs")),
    /Requested storage pool driver "btrfs" doesn't match driver in existing database record "dir"/,
  );
  const parts = db.readStale((tx) => pendingPoolParts(tx, "data", "dir"));
  assert.deepEqual(parts, { m1: { source: "/a" }, m2: { source: "/b" }, m3: { source: "/c" } });
  assert.equal(db.readStale((tx) => getPool(tx, "data", null)).status, "Pending");

  await db.run(finishPool, { name: "data", description: "d", config: { "volume.size": "1GiB" }, parts });
  const global = db.readStale((tx) => getPool(tx, "data", null));
  assert.equal(global.status, "Created");
  assert.deepEqual(global.config, { "volume.size": "1GiB" });
  assert.deepEqual(global.memberStates, { m1: "Created", m2: "Created", m3: "Created" });
  assert.deepEqual(db.readStale((tx) => getPool(tx, "data", "m2")).config, {
    source: "/b",
    "volume.size": "1GiB",
  });
  await assert.rejects(db.run(definePoolMember, define("m1", "/a")), /Storage pool is not in pending state/);
  assert.throws(
    () => db.readStale((tx) => pendingPoolParts(tx, "data", "dir")),
    /The storage pool is already created/,
  );
  await assert.rejects(
    db.run(finishPool, { name: "data", description: "", config: {}, parts }),
    /The storage pool is already created/,
  );

  // A member's own keys change alone; the global ones alone.
  await db.run(updatePool, {
    name: "data",
    description: "d",
    config: { source: "/b", size: "5GiB" },
    member: "m2",
  });
  await db.run(updatePool, {
    name: "data",
    description: "d",
    config: { "rsync.bwlimit": "10" },
    member: null,
  });
  assert.deepEqual(db.readStale((tx) => getPool(tx, "data", "m2")).config, {
    "rsync.bwlimit": "10",
    size: "5GiB",
    source: "/b",
  });
  assert.deepEqual(db.readStale((tx) => getPool(tx, "data", "m1")).config, {
    "rsync.bwlimit": "10",
    source: "/a",
  });
  assert.equal(db.readStale((tx) => findPool(tx, "nope", null)), null);
});

Deno.test("networks in two phases, and a member holding volumes", async () => {
  await using c = await cluster();
  const { db } = c;
  for (const m of ["m1", "m2"]) {
    await db.run(defineNetworkMember, {
      name: "br1",
      description: "",
      config: m === "m1" ? { "bridge.external_interfaces": "eth1" } : {},
      member: m,
    });
  }
  await assert.rejects(
    db.run(defineNetworkMember, { name: "br1", description: "", config: {}, member: "m2" }),
    /The network is already defined on member "m2"/,
  );
  assert.throws(
    () => db.readStale((tx) => pendingNetworkParts(tx, "br1")),
    /Network not defined on nodes: m3/,
  );
  await db.run(defineNetworkMember, { name: "br1", description: "", config: {}, member: "m3" });
  assert.deepEqual(db.readStale((tx) => pendingNetworkParts(tx, "br1")), {
    m1: { "bridge.external_interfaces": "eth1" },
    m2: {},
    m3: {},
  });
  await db.run(finishNetwork, { name: "br1", description: "", config: { "ipv4.address": "10.1.2.1/24" } });
  const n = db.readStale((tx) => getNetwork(tx, "br1", null));
  assert.equal(n.status, "Created");
  assert.deepEqual(n.config, { "ipv4.address": "10.1.2.1/24" });
  assert.deepEqual(db.readStale((tx) => getNetwork(tx, "br1", "m1")).config, {
    "bridge.external_interfaces": "eth1",
    "ipv4.address": "10.1.2.1/24",
  });
  await assert.rejects(
    db.run(defineNetworkMember, { name: "br1", description: "", config: {}, member: "m1" }),
    /Network is not in pending state/,
  );

  for (const m of ["m1", "m2", "m3"]) await db.run(definePoolMember, define(m, `/${m}`));
  const parts = db.readStale((tx) => pendingPoolParts(tx, "data", "dir"));
  await db.run(finishPool, { name: "data", description: "", config: {}, parts });
  await db.run(createCustomVolume, { pool: "data", name: "web", description: "", config: {}, member: "m2" });
  assert.equal(
    db.readStale((tx) => memberVolumesProblem(tx, "m2")),
    "Node still has the following custom volumes: web",
  );
  assert.equal(db.readStale((tx) => memberVolumesProblem(tx, "m1")), null);
});
