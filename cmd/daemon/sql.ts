import { Command, Option } from "commander";
import { Client } from "../../lib/client/mod.ts";
import { statePaths } from "../../lib/daemon/paths.ts";
import { daemonRunning } from "./running.ts";
import type { SqlResult } from "../../lib/db/mod.ts";
import type { DatabaseSync } from "node:sqlite";
import { drawTable, toCsv, toYaml } from "../cli/format.ts";
import { writeStdout } from "../../lib/util/mod.ts";

/** lib/db (node:sqlite) loads only when the daemon is stopped: every shoald admin command registers this one. */
type DbLib = typeof import("../../lib/db/mod.ts");

/** The local database opened directly, with the daemon stopped (LXD's `lxd sql local` does too). */
function withLocal<R>(lib: DbLib, fn: (db: DatabaseSync) => R): R {
  const path = statePaths().localDb;
  try {
    Deno.statSync(path);
  } catch {
    throw new Error(`No local database at ${path}: set SHOAL_DIR to the member's state directory`);
  }
  const local = new lib.LocalDB(path);
  try {
    return fn(local.db);
  } finally {
    local.close();
  }
}

/** `sql local|global "<SQL>"` (or `-` to read stdin), `.dump` and `.schema`. */
export function sqlCommand(): Command {
  return new Command("sql").description("Execute a SQL query against the local or global database")
    .argument("<database>", "local or global")
    .argument("<query>", 'SQL, ".dump", ".schema" or "-" for stdin')
    .addOption(
      new Option("-f, --format <format>", "Format").choices(["table", "csv", "json", "yaml"]).default(
        "table",
      ),
    )
    .action(async (database: string, query: string, o: { format: string }) => {
      if (database !== "local" && database !== "global") throw new Error("Invalid database type");
      if (query === "-") query = await new Response(Deno.stdin.readable).text();
      const running = await daemonRunning();
      if (!running && database === "global") {
        throw new Error(
          "The daemon is not running: `sql global` goes through the cluster's database, start shoald first (`sql local` works without it)",
        );
      }
      const lib = running ? undefined : await import("../../lib/db/mod.ts");
      const c = new Client({ kind: "unix", path: statePaths().socket });
      try {
        if (query === ".dump" || query === ".schema") {
          const text = running
            ? (await c.get<{ text: string }>(
              `/internal/sql?database=${database}${query === ".schema" ? "&schema=1" : ""}`,
            )).text
            : withLocal(lib!, (db) => lib!.dumpDatabase(db, query === ".schema"));
          writeStdout(text);
          return;
        }
        const results = running
          ? (await c.request<{ results: SqlResult[] }>("POST", "/internal/sql", {
            body: { database, query },
          }))
            .metadata.results
          : withLocal(lib!, (db) => {
            const statements = lib!.splitSql(query);
            if (statements.length === 0) throw new Error("No query provided");
            return lib!.runLocalStatements(db, statements);
          });
        if (o.format === "json" || o.format === "yaml") {
          const out = results.length === 1 ? results[0] : results;
          writeStdout(o.format === "json" ? JSON.stringify(out) + "\n" : toYaml(out));
          return;
        }
        results.forEach((r, i) => {
          if (results.length > 1) console.log(`=> Query ${i}:\n`);
          if (r.type === "select" && o.format === "csv") {
            writeStdout(toCsv(r.rows.map((row) => row.map((v) => v === null ? "" : String(v)))));
          } else if (r.type === "select") {
            Deno.stdout.writeSync(new TextEncoder().encode(
              drawTable(
                r.columns,
                r.rows.map((row) => row.map((v) => v === null ? "<nil>" : String(v))),
                "plain",
              ),
            ));
          } else console.log(`Rows affected: ${r.rows_affected}`);
          if (results.length > 1) console.log("");
        });
      } finally {
        c.close();
      }
    });
}
