import assert from "node:assert/strict";
import { GlobalFsm } from "./fsm.ts";
import { encodeBatch } from "./batch.ts";

/** An fsm with two tables, a child of the first by a foreign key, and an unrelated one. */
function fresh() {
  const dir = Deno.makeTempDirSync();
  const fsm = new GlobalFsm(`${dir}/db.sqlite`);
  let index = 0;
  const apply = (...sql: string[]) =>
    fsm.apply(++index, 1, encodeBatch([sql.map((s) => ({ sql: s, params: [] }))]));
  apply(
    "CREATE TABLE domains (id INTEGER PRIMARY KEY)",
    'CREATE TABLE "nodes" (id INTEGER PRIMARY KEY, domain INTEGER REFERENCES domains (id) ON DELETE SET NULL)',
    "CREATE TABLE config (key TEXT PRIMARY KEY, value TEXT)",
  );
  return { fsm, apply, [Symbol.dispose]: () => fsm.close() };
}

Deno.test("tableVersion moves with writes that may change the table, and only those", () => {
  using t = fresh();
  const v = () => t.fsm.tableVersion("nodes");
  let before = v();
  t.apply("INSERT INTO config (key, value) VALUES ('a', '1')");
  t.apply("UPDATE config SET value = '2'", "DELETE FROM config WHERE key = 'b'");
  assert.equal(v(), before, "writes to another table");
  t.apply("INSERT INTO domains (id) VALUES (1)");
  before = v();
  const writes = [
    "INSERT INTO nodes (id, domain) VALUES (1, 1)",
    'UPDATE "nodes" SET domain = NULL',
    "insert or replace into NODES (id) values (2)",
    // Its foreign key's action changes nodes.
    "DELETE FROM domains WHERE id = 1",
    // A statement whose table cannot be told, a schema change: everything may have changed.
    "WITH x AS (SELECT 1) INSERT INTO config (key, value) SELECT 'c', '3' FROM x",
    "CREATE TABLE other (id INTEGER)",
  ];
  for (const sql of writes) {
    t.apply(sql);
    assert.notEqual(v(), before, sql);
    before = v();
  }
  // A failed transaction is counted too (it may have run part of its statements).
  t.apply("INSERT INTO nodes (id) VALUES (7)", "INSERT INTO nowhere VALUES (1)");
  assert.notEqual(v(), before);
  before = v();
  // A restored snapshot changes everything.
  t.fsm.restore(t.fsm.snapshot());
  assert.notEqual(v(), before);
});

Deno.test("tableVersion follows foreign keys of a table created in the same entry, and triggers", () => {
  using t = fresh();
  t.apply(
    "CREATE TABLE roles (node INTEGER REFERENCES nodes (id) ON DELETE CASCADE)",
    "INSERT INTO nodes (id) VALUES (1)",
  );
  t.apply("INSERT INTO roles (node) VALUES (1)");
  let before = t.fsm.tableVersion("roles");
  t.apply("DELETE FROM nodes WHERE id = 1");
  assert.notEqual(t.fsm.tableVersion("roles"), before, "the cascade reached roles");
  t.apply("CREATE TRIGGER copy AFTER INSERT ON config BEGIN INSERT INTO nodes (id) VALUES (NEW.value); END");
  before = t.fsm.tableVersion("nodes");
  t.apply("INSERT INTO config (key, value) VALUES ('k', 5)");
  assert.notEqual(t.fsm.tableVersion("nodes"), before, "a trigger may write anywhere");
});
