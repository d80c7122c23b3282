/** Which drivers a pool may use, what its config may hold, and the driver of a pool. */
import { badRequest } from "../util/mod.ts";
import { BtrfsPool, parseSize } from "./btrfs.ts";
import { DirPool, type StorageDriver } from "./dir.ts";

/** Drivers shoal has; LXD's text for the rest. */
export const SUPPORTED_DRIVERS = ["dir", "btrfs"] as const;

/** A pool as the drivers need it: its name, driver and this member's config. */
export interface PoolSpec {
  name: string;
  driver: string;
  config: Record<string, string>;
}

/** The driver of a pool on this member ($SHOAL_DIR/storage-pools is poolsDir). */
export function openPool(p: PoolSpec, poolsDir: string): StorageDriver {
  switch (p.driver) {
    case "dir":
      return new DirPool(p.name, poolsDir, p.config.source);
    case "btrfs":
      return new BtrfsPool(p.name, poolsDir, p.config);
    default:
      throw badRequest(`Storage pool driver "${p.driver}" is not supported`);
  }
}

/** Checks a pool's driver and config before anything is written. */
export function validatePool(driver: string, config: Record<string, string>): void {
  if (!(SUPPORTED_DRIVERS as readonly string[]).includes(driver)) {
    throw badRequest(`Storage pool driver "${driver}" is not supported`);
  }
  for (const k of Object.keys(config)) {
    if (
      !["source", "size", "volume.size", "rsync.bwlimit", "rsync.compression"].includes(k) &&
      !k.startsWith("user.")
    ) {
      throw badRequest(`Invalid option for storage pool driver "${driver}": ${k}`);
    }
  }
  if (config.source !== undefined && config.source !== "" && !config.source.startsWith("/")) {
    throw badRequest(`Storage pool source must be an absolute path: "${config.source}"`);
  }
  if (driver === "btrfs" && config.size) parseSize(config.size);
}
