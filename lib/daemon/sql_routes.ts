import { Hono } from "hono";
import { type ApiEnv, readJson, type RouteModule, sync } from "../api/mod.ts";
import {
  dumpDatabase,
  type GlobalDB,
  type GlobalFsm,
  isReadStatement,
  type LocalDB,
  runLocalStatements,
  runReads,
  splitSql,
  sqlBatch,
} from "../db/mod.ts";
import { badRequest, forbidden } from "../util/mod.ts";

/** The databases `shoald sql` reaches. */
export interface SqlDatabases {
  readonly db: GlobalDB;
  readonly fsm: GlobalFsm;
  readonly local: LocalDB;
}

/** /internal/sql: the daemon side of `shoald sql`, on the unix socket only. */
export function sqlRoutes(d: SqlDatabases): RouteModule {
  return () => {
    const app = new Hono<ApiEnv>();
    app.use("/internal/sql", async (c, next) => {
      if (c.var.identity.protocol !== "unix") throw forbidden();
      await next();
    });
    app.get("/internal/sql", async (c) => {
      const database = c.req.query("database");
      if (database !== "local" && database !== "global") throw badRequest("Invalid database");
      const schemaOnly = c.req.query("schema") === "1";
      if (database === "global") await d.db.read(() => null);
      const text = dumpDatabase(database === "local" ? d.local.db : d.fsm.connection, schemaOnly);
      return sync(c, { text });
    });
    app.post("/internal/sql", async (c) => {
      const req = await readJson<{ database?: string; query?: string }>(c);
      if (req.database !== "local" && req.database !== "global") throw badRequest("Invalid database");
      const statements = splitSql(req.query ?? "");
      if (statements.length === 0) throw badRequest("No query provided");
      try {
        if (req.database === "local") {
          if (statements.every(isReadStatement)) {
            return sync(c, { results: runReads(d.local.db, statements) });
          }
          d.local.invalidate();
          const results = runLocalStatements(d.local.db, statements);
          d.local.invalidate();
          return sync(c, { results });
        }
        if (statements.every(isReadStatement)) {
          await d.db.read(() => null);
          return sync(c, { results: runReads(d.fsm.connection, statements) });
        }
        return sync(c, { results: await d.db.run(sqlBatch, statements) });
      } catch (e) {
        if (
          e instanceof Error && "code" in e && String((e as { code: unknown }).code).startsWith("ERR_SQLITE")
        ) {
          throw badRequest(e.message);
        }
        throw e;
      }
    });
    return app;
  };
}
