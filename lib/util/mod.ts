/**
 * Small helpers every layer may use except lib/raft: errors, text and time formats.
 * @module
 */
export * from "./errors.ts";
export * from "./natural_sort.ts";
export * from "./duration.ts";
export * from "./timers.ts";
export * from "./address.ts";
export * from "./output.ts";
export * from "./etag.ts";
export * from "./command.ts";
export * from "./revert.ts";
export * from "./names.ts";
export * from "./size.ts";
export { editInEditor } from "./editor.ts";
export * from "./rng.ts";
export * from "./limit.ts";
export * from "./byte_range.ts";
