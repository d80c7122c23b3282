import assert from "node:assert/strict";
import { drawTable, toCsv, toGoJson } from "./format.ts";

Deno.test("drawTable() draws lxc's bordered table with centred headers and a line between rows", () => {
  const out = drawTable(["NAME", "STATE"], [["c1", "RUNNING"], ["longer-name", "STOPPED"]]);
  assert.equal(
    out,
    [
      "+-------------+---------+",
      "|    NAME     |  STATE  |",
      "+-------------+---------+",
      "| c1          | RUNNING |",
      "+-------------+---------+",
      "| longer-name | STOPPED |",
      "+-------------+---------+",
      "",
    ].join("\n"),
  );
});

Deno.test("drawTable() gives multi-line cells extra lines in the same row", () => {
  const out = drawTable(["NAME", "ROLES"], [["m1", "database-leader\ndatabase"]]);
  assert.ok(out.includes("| m1   | database-leader |\n|      | database        |\n"), out);
});

Deno.test("drawTable() compact has no borders", () => {
  assert.equal(drawTable(["A", "BB"], [["x", "y"]], "compact"), "  A  BB  \n  x  y   \n");
});

Deno.test("toCsv() quotes fields as Go's csv writer does", () => {
  assert.equal(toCsv([["a", "b,c", 'q"t', ""]]), 'a,"b,c","q""t",\n');
});

Deno.test("toGoJson() escapes HTML characters like Go", () => {
  assert.equal(toGoJson({ a: "<x>&" }), '{"a":"\\u003cx\\u003e\\u0026"}\n');
});
