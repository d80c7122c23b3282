import assert from "node:assert/strict";
import {
  addNode,
  defineTx,
  ensureStandaloneNode,
  GlobalDB,
  GlobalFsm,
  listNodes,
  LocalConsensus,
  updateGlobalSchema,
} from "../db/mod.ts";
import { StatusError } from "../util/mod.ts";
import type { ClusterMember } from "../wire/mod.ts";
import {
  checkMemberConfig,
  checkRoles,
  planMemberUpdate,
  removalBlocker,
  renameMember,
  updateMember,
} from "./member_update.ts";

/** Test setup only: rows of tables other engineers own. */
const rawSql = defineTx("test.member-update.sql", (tx, q: string) => void tx.exec(q));

function refused(fn: () => unknown, status: number, message: string): void {
  assert.throws(fn, (e) => e instanceof StatusError && e.status === status && e.message === message);
}

async function fresh() {
  const dir = await Deno.makeTempDir();
  const fsm = new GlobalFsm(`${dir}/db.sqlite`);
  const db = new GlobalDB(fsm, new LocalConsensus(fsm));
  await db.run(updateGlobalSchema, {});
  await db.run(ensureStandaloneNode, { arch: "x86_64", apiExtensions: 1 });
  await db.run(addNode, { name: "m2", address: "127.0.0.2:8443", arch: "x86_64", apiExtensions: 1 });
  return {
    db,
    async [Symbol.asyncDispose]() {
      fsm.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const member = (roles: string[]): ClusterMember => ({
  server_name: "m2",
  url: "https://127.0.0.2:8443",
  database: true,
  status: "Online",
  message: "Fully operational",
  architecture: "x86_64",
  roles,
  failure_domain: "default",
  description: "",
  config: {},
  groups: ["default"],
});

Deno.test("checkRoles keeps held automatic roles, refuses new ones, unknown and duplicate roles", () => {
  assert.deepEqual(checkRoles(["database"], ["event-hub"]), ["event-hub"]);
  assert.deepEqual(checkRoles(["database-leader", "database"], ["database", "database-leader"]), []);
  refused(
    () => checkRoles(["database"], ["database-standby"]),
    400,
    'The automatically assigned "database-standby" role cannot be added manually',
  );
  refused(
    () => checkRoles([], ["database"]),
    400,
    'The automatically assigned "database" role cannot be added manually',
  );
  refused(() => checkRoles([], ["x"]), 400, 'Invalid cluster role "x"');
  refused(
    () => checkRoles([], ["ovn-chassis", "ovn-chassis"]),
    400,
    'Duplicate role "ovn-chassis" in request',
  );
  // A held automatic role named again is a duplicate only when named twice.
  refused(
    () => checkRoles(["database"], ["database", "database"]),
    400,
    'Duplicate role "database" in request',
  );
});

Deno.test("checkMemberConfig takes scheduler.instance (all, manual, group) and user.* only", () => {
  checkMemberConfig({ "scheduler.instance": "group", "user.anything": "x", "user.": "" });
  checkMemberConfig({ "scheduler.instance": "" });
  refused(() => checkMemberConfig({ "core.x": "1" }), 400, 'Invalid cluster configuration key "core.x"');
  refused(
    () => checkMemberConfig({ "scheduler.instance": "any" }),
    400,
    'Invalid cluster configuration key "scheduler.instance" value',
  );
});

Deno.test("planMemberUpdate needs a group and string values", () => {
  refused(
    () => planMemberUpdate(member([]), { roles: [] }, true),
    400,
    "Cluster members need to belong to at least one group",
  );
  refused(
    () =>
      planMemberUpdate(
        member([]),
        { groups: ["default"], config: { "user.n": 1 as unknown as string } },
        false,
      ),
    400,
    'Invalid cluster configuration key "user.n" value',
  );
  assert.deepEqual(
    planMemberUpdate(member(["database"]), { roles: ["event-hub"], groups: ["default", "default"] }, true),
    {
      name: "m2",
      roles: ["event-hub"],
      failureDomain: "",
      description: "",
      config: {},
      groups: ["default"],
      mergeConfig: true,
    },
  );
});

Deno.test("updateMember stores roles, config, description, domain and groups; PATCH merges config", async () => {
  await using t = await fresh();
  const base = {
    name: "m2",
    roles: ["ovn-chassis"],
    failureDomain: "az1",
    description: "d",
    groups: ["default"],
  };
  await t.db.run(updateMember, { ...base, config: { "user.a": "1", "user.b": "2" }, mergeConfig: false });
  await t.db.run(updateMember, { ...base, config: { "user.b": "", "user.c": "3" }, mergeConfig: true });
  const n = (await t.db.read(listNodes)).find((x) => x.name === "m2")!;
  assert.deepEqual(n.roles, ["ovn-chassis"]);
  assert.deepEqual(n.config, { "user.a": "1", "user.c": "3" });
  assert.equal(n.description, "d");
  assert.equal(n.failure_domain, "az1");
  // Back to the default domain: the unused row goes.
  await t.db.run(updateMember, { ...base, failureDomain: "default", config: {}, mergeConfig: false });
  assert.deepEqual(await t.db.read((tx) => tx.query("SELECT name FROM nodes_failure_domains")), []);
  await assert.rejects(
    t.db.run(updateMember, { ...base, groups: ["nope"], config: {}, mergeConfig: false }),
    (e) =>
      e instanceof StatusError && e.status === 404 && e.message === 'Cluster group "nope" does not exist',
  );
});

Deno.test("renameMember: 404 for an unknown member, 409 for a taken name", async () => {
  await using t = await fresh();
  await assert.rejects(
    t.db.run(renameMember, { name: "m2", newName: "none" }),
    (e) =>
      e instanceof StatusError && e.status === 409 &&
      e.message === 'A cluster member already exists with name "none"',
  );
  await assert.rejects(
    t.db.run(renameMember, { name: "zz", newName: "m9" }),
    (e) => e instanceof StatusError && e.status === 404 && e.message === "Cluster member not found",
  );
  await t.db.run(renameMember, { name: "m2", newName: "m9" });
  assert.deepEqual((await t.db.read(listNodes)).map((n) => n.name), ["none", "m9"]);
});

Deno.test("removalBlocker names the member's instances, then images only it holds", async () => {
  await using t = await fresh();
  assert.equal(await t.db.read((tx) => removalBlocker(tx, "m2")), null);
  const sql = async (q: string) => await t.db.run(rawSql, q);
  await sql(
    "INSERT INTO instances (node_id, name, architecture, type, creation_date, project_id) VALUES (2, 'web', 2, 0, '2026-01-01T00:00:00Z', 1), (2, 'db', 2, 0, '2026-01-01T00:00:00Z', 1), (1, 'elsewhere', 2, 0, '2026-01-01T00:00:00Z', 1)",
  );
  assert.equal(
    await t.db.read((tx) => removalBlocker(tx, "m2")),
    "Node still has the following instances: db, web",
  );
  await sql("DELETE FROM instances");
  await sql(
    "INSERT INTO images (id, fingerprint, filename, size, architecture, upload_date, project_id) VALUES (7, 'abc123', 'f', 1, 2, '2026-01-01T00:00:00Z', 1)",
  );
  await sql("INSERT INTO images_nodes (image_id, node_id) VALUES (7, 2)");
  assert.equal(
    await t.db.read((tx) => removalBlocker(tx, "m2")),
    "Node still has the following images: abc123",
  );
  await sql("INSERT INTO images_nodes (image_id, node_id) VALUES (7, 1)");
  assert.equal(await t.db.read((tx) => removalBlocker(tx, "m2")), null, "another member has a copy");
});
