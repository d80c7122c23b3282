/** LXD's instance status codes, and what the manager needs from its member (the API's instance
 * shapes are lib/wire's, re-exported here). */
import type { GlobalDB } from "../db/mod.ts";
import type { EventHub } from "../events/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { NetworkManager } from "../network/mod.ts";
import type { ImageStore } from "../images/mod.ts";
import type { LxcDriver } from "./lxc.ts";

export type { InstanceJSON, InstancePost, InstancesPost, InstanceStateJSON } from "../wire/instances.ts";

/** LXD's status codes of instances. */
export const INSTANCE_STATUS: Record<string, { status: string; code: number }> = {
  RUNNING: { status: "Running", code: 103 },
  STOPPED: { status: "Stopped", code: 102 },
  FROZEN: { status: "Frozen", code: 110 },
  FREEZING: { status: "Frozen", code: 110 },
  THAWED: { status: "Running", code: 103 },
  STARTING: { status: "Starting", code: 106 },
  STOPPING: { status: "Stopping", code: 107 },
  ABORTING: { status: "Error", code: 112 },
};

/** What the managers of one member's projects share: liblxc, the image store, the locks. */
export interface ManagerShared {
  lxc: LxcDriver;
  images: ImageStore;
  /** Per instance key, the last lifecycle change queued (changes of one instance run in turn). */
  locks: Map<string, Promise<unknown>>;
  cgroup: "v1" | "v2";
}

/** A create request prepareCreate() accepted: what create() then does. */
export interface PreparedCreate {
  name: string;
  /** The image's, null for an instance made from no image (a copy fills it). */
  fingerprint: string | null;
  profiles: string[];
  pool: string;
}

/** What the manager needs from its member. */
export interface ManagerOptions {
  db: GlobalDB;
  events: EventHub;
  log: Logger;
  /** This member's name in `location` columns ("none" standalone). */
  location: () => string;
  /** lxcpath: $SHOAL_DIR/containers. */
  containersDir: string;
  /** Default parent of pool directories: $SHOAL_DIR/storage-pools. */
  poolsDir: string;
  /** $SHOAL_DIR/images. */
  imagesDir: string;
  /** This member's managed networks: their DNS learns the names of instances on them. */
  networks?: NetworkManager;
  /**
   * Fetches an image this member does not hold from a member that does, into the image store
   * (checksum verified); absent standalone, where every image is here.
   */
  fetchImage?: (fingerprint: string, progress?: (text: string) => void) => Promise<void>;
  /** Why this member may start no instance now (evacuated, fenced), or null; asked at every start. */
  refuseStart?: () => string | null;
}
