import { globalV001 } from "./updates/global_v001.ts";
import { globalV002 } from "./updates/global_v002.ts";
import { globalV003 } from "./updates/global_v003.ts";
import { globalV004 } from "./updates/global_v004.ts";
import { globalV005 } from "./updates/global_v005.ts";
import { globalV006 } from "./updates/global_v006.ts";
import { globalV007 } from "./updates/global_v007.ts";
import { localV001 } from "./updates/local_v001.ts";

/**
 * Schema updates, in order and without gaps: update N takes the schema from version N-1 to N.
 * The global schema version is compared across members before a member serves (upgrade gate).
 */
export const GLOBAL_UPDATES: readonly string[] = [
  globalV001,
  globalV002,
  globalV003,
  globalV004,
  globalV005,
  globalV006,
  globalV007,
];

/** Local (member-only) schema updates. */
export const LOCAL_UPDATES: readonly string[] = [localV001];

/** The global schema version this build runs. */
export const GLOBAL_SCHEMA_VERSION: number = GLOBAL_UPDATES.length;

/** Splits a schema script into statements (no semicolons inside our literals). */
export function splitStatements(script: string): string[] {
  return script.split(/;\s*\n/).map((s) => s.trim().replace(/;$/, "")).filter((s) => s !== "");
}
