/** The instance shapes of LXD's API, and what the manager needs from its member. */
import type { Devices, GlobalDB } from "../db/mod.ts";
import type { EventHub } from "../events/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { NetworkManager } from "../network/mod.ts";

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

/** POST /1.0/instances (LXD's InstancesPost, the parts shoal acts on). */
export interface InstancesPost {
  name?: string;
  description?: string;
  config?: Record<string, string>;
  devices?: Devices;
  profiles?: string[] | null;
  ephemeral?: boolean;
  type?: string;
  architecture?: string;
  source?: {
    type?: string;
    fingerprint?: string;
    alias?: string;
    server?: string;
    protocol?: string;
    /** type copy: the instance copied (in `project`, or the request's). */
    source?: string;
    project?: string;
    /** Copy it without its snapshots (shoal has none to carry yet). */
    instance_only?: boolean;
    /** type migration (pull): the source member's operation URL and its websocket secrets. */
    mode?: string;
    operation?: string;
    secrets?: Record<string, string>;
    certificate?: string;
    live?: boolean;
    "base-image"?: string;
  };
  start?: boolean;
}

/** POST /1.0/instances/NAME (LXD's api.InstancePost): a rename, or a migration. */
export interface InstancePost {
  name?: string;
  migration?: boolean;
  /** Stateful (CRIU) when true; LXD takes an absent `live` as true. */
  live?: boolean;
  instance_only?: boolean;
  container_only?: boolean;
  /** Push mode's target (a remote server): not taken. */
  target?: Record<string, unknown> | null;
  pool?: string;
  project?: string;
}

/** The instance as the API shows it (LXD's api.Instance). */
export interface InstanceJSON {
  architecture: string;
  config: Record<string, string>;
  devices: Devices;
  ephemeral: boolean;
  profiles: string[];
  stateful: boolean;
  description: string;
  created_at: string;
  expanded_config: Record<string, string>;
  expanded_devices: Devices;
  name: string;
  status: string;
  status_code: number;
  last_used_at: string;
  location: string;
  type: string;
  project: string;
}

/** GET /1.0/instances/NAME/state (LXD's api.InstanceState). */
export interface InstanceStateJSON {
  status: string;
  status_code: number;
  disk: Record<string, { usage: number }>;
  memory: { usage: number; usage_peak: number; swap_usage: number; swap_usage_peak: number };
  network: Record<string, unknown> | null;
  pid: number;
  processes: number;
  cpu: { usage: number };
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
