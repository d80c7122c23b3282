/**
 * shoal as a library, for embedders and tests: the Raft core, the typed client and the wire
 * types.
 * @module
 */
export * from "./lib/client/mod.ts";
export { VERSION } from "./lib/version.ts";
