/**
 * Storage pools on one member: the `dir` and `btrfs` drivers for real, behind the StorageDriver interface.
 * @module
 */
export * from "./dir.ts";
export * from "./btrfs.ts";
export * from "./pools.ts";
