import { GLOBAL_UPDATES, splitStatements } from "./schema.ts";
import { defineTx, type ReadTx } from "./tx.ts";

/** The global schema version stored in the database (0 when empty). */
export function globalSchemaVersion(tx: ReadTx): number {
  const t = tx.get("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema'");
  if (!t) return 0;
  return tx.get<{ v: number | null }>("SELECT MAX(version) AS v FROM schema")?.v ?? 0;
}

/**
 * Brings the global schema to this build's version, as one replicated transaction, so every
 * member runs the same DDL at the same log position.
 */
export const updateGlobalSchema = defineTx("schema.update", (tx, _args: Record<string, never>): number => {
  const current = globalSchemaVersion(tx);
  if (current === 0) {
    tx.exec(
      "CREATE TABLE schema (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, version INTEGER NOT NULL, updated_at DATETIME NOT NULL, UNIQUE (version))",
    );
  }
  for (let v = current + 1; v <= GLOBAL_UPDATES.length; v++) {
    for (const s of splitStatements(GLOBAL_UPDATES[v - 1]!)) tx.exec(s);
    tx.exec("INSERT INTO schema (version, updated_at) VALUES (?, ?)", v, tx.now);
  }
  return GLOBAL_UPDATES.length;
});
