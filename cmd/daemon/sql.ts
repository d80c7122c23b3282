import { Command, Option } from "commander";
import { Client } from "../../lib/client/mod.ts";
import { statePaths } from "../../lib/daemon/mod.ts";
import type { SqlResult } from "../../lib/db/mod.ts";
import { drawTable, toCsv, toYaml } from "../cli/format.ts";
import { writeStdout } from "../../lib/util/mod.ts";

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
      const c = new Client({ kind: "unix", path: statePaths().socket });
      try {
        if (query === ".dump" || query === ".schema") {
          const r = await c.get<{ text: string }>(
            `/internal/sql?database=${database}${query === ".schema" ? "&schema=1" : ""}`,
          );
          writeStdout(r.text);
          return;
        }
        const { results } =
          (await c.request<{ results: SqlResult[] }>("POST", "/internal/sql", { body: { database, query } }))
            .metadata;
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
