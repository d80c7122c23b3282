import type { DatabaseSync, StatementSync } from "node:sqlite";
import { badRequest } from "../util/mod.ts";
import type { SqlValue } from "./sqlite.ts";
import { defineTx } from "./tx.ts";

/** One result of `sql local|global`, in LXD's internalSQLResult shape. */
export interface SqlResult {
  type: "select" | "exec";
  columns: string[];
  rows: SqlValue[][];
  rows_affected: number;
}

/** Rows as arrays (node:sqlite has setReturnArrays; some typings lack it). */
function returnArrays(stmt: StatementSync): StatementSync {
  (stmt as unknown as { setReturnArrays(on: boolean): void }).setReturnArrays(true);
  return stmt;
}

/** Splits SQL text into statements at semicolons outside quotes and comments. */
export function splitSql(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      cur += ch;
      if (ch === quote) quote = null;
    } else if (ch === "'" || ch === '"' || ch === "`") {
      quote = ch;
      cur += ch;
    } else if (ch === "-" && text[i + 1] === "-") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (ch === ";") {
      if (cur.trim() !== "") out.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  if (cur.trim() !== "") out.push(cur.trim());
  return out;
}

/** Whether a statement only reads. */
export function isReadStatement(sql: string): boolean {
  return /^\s*(SELECT|WITH|EXPLAIN|VALUES)\b/i.test(sql) ||
    /^\s*PRAGMA\s+\w+\s*(\(\s*\w*\s*\))?\s*$/i.test(sql);
}

/** Runs read statements directly on a connection. */
export function runReads(db: DatabaseSync, statements: string[]): SqlResult[] {
  return statements.map((sql) => {
    const stmt = returnArrays(db.prepare(sql));
    const rows = stmt.all() as unknown as SqlValue[][];
    return { type: "select", columns: stmt.columns().map((c) => c.name), rows, rows_affected: 0 };
  });
}

/**
 * Runs statements on a member's local database, each on its own (`shoald sql local`, through the
 * daemon or, with the daemon stopped, directly).
 */
export function runLocalStatements(db: DatabaseSync, statements: string[]): SqlResult[] {
  if (statements.every(isReadStatement)) return runReads(db, statements);
  return statements.map((s) =>
    isReadStatement(s) ? runReads(db, [s])[0]! : {
      type: "exec" as const,
      columns: [],
      rows: [],
      rows_affected: Number(db.prepare(s).run().changes),
    }
  );
}

/** Runs a batch with writes as one replicated transaction: the admin's `sql global`. */
export const sqlBatch = defineTx("sql.batch", (tx, statements: string[]): SqlResult[] => {
  return statements.map((sql) => {
    if (isReadStatement(sql)) {
      if (/^\s*PRAGMA/i.test(sql)) throw badRequest("PRAGMA statements cannot be mixed with writes");
      const rows = tx.query<Record<string, SqlValue>>(sql);
      const columns = rows.length > 0 ? Object.keys(rows[0]!) : [];
      return { type: "select", columns, rows: rows.map((r) => Object.values(r)), rows_affected: 0 };
    }
    return { type: "exec", columns: [], rows: [], rows_affected: tx.exec(sql).changes };
  });
});

function quoteValue(v: SqlValue): string {
  if (v === null) return "NULL";
  if (typeof v === "number") return String(v);
  return `'${String(v).replaceAll("'", "''")}'`;
}

/** A SQL text dump of a database (schema only with schemaOnly), as `.dump`/`.schema`. */
export function dumpDatabase(db: DatabaseSync, schemaOnly: boolean): string {
  const lines = ["PRAGMA foreign_keys=OFF;", "BEGIN TRANSACTION;"];
  const objects = db.prepare(
    "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, rowid",
  ).all() as { type: string; name: string; sql: string }[];
  for (const o of objects) {
    lines.push(`${o.sql};`);
    if (schemaOnly || o.type !== "table") continue;
    const stmt = returnArrays(db.prepare(`SELECT * FROM "${o.name.replaceAll('"', '""')}"`));
    for (const row of stmt.all() as unknown as SqlValue[][]) {
      lines.push(`INSERT INTO ${o.name} VALUES(${row.map(quoteValue).join(",")});`);
    }
  }
  lines.push("COMMIT;");
  return lines.join("\n") + "\n";
}
