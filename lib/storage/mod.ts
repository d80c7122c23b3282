/**
 * Storage pools on one member: the `dir` driver for real, behind the StorageDriver interface.
 * @module
 */
export * from "./dir.ts";
