import assert from "node:assert/strict";
import { ROUTE_ACCESS } from "../api/access.ts";
import { Daemon } from "./daemon.ts";

/**
 * Every route the member serves declares who may call it (lib/api/access.ts): a route added
 * without a decision fails here, and a declaration left behind for a route that is gone too.
 */
Deno.test("every route of a member is in the access table, and the table names no other", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shoal-routes-" });
  const d = await Daemon.start({ dir, version: "test", logLevel: null });
  try {
    const served = new Set<string>();
    for (const r of d.app.routes) if (r.method !== "ALL") served.add(`${r.method} ${r.path}`);
    const undeclared = [...served].filter((k) => !(k in ROUTE_ACCESS)).sort();
    assert.deepEqual(undeclared, [], `routes without an access declaration in lib/api/access.ts`);
    const stale = Object.keys(ROUTE_ACCESS).filter((k) => !served.has(k)).sort();
    assert.deepEqual(stale, [], "declarations of routes nobody serves");
  } finally {
    await d.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
