/**
 * The instance, image and profile shapes of LXD's API: what the daemon answers and the client
 * reads, declared once (lib/instances, lib/api and cmd/cli all import them from here).
 * @module
 */

/** Devices by name, each its key/value configuration (LXD's map[string]map[string]string). */
export type Devices = Record<string, Record<string, string>>;

/** One interface of a running instance (LXD's api.InstanceStateNetwork). */
export interface NetworkStateJSON {
  addresses: { family: string; address: string; netmask: string; scope: string }[];
  counters: { bytes_received: number; bytes_sent: number; packets_received: number; packets_sent: number };
  hwaddr: string;
  host_name: string;
  mtu: number;
  state: string;
  type: string;
}

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
  network: Record<string, NetworkStateJSON> | null;
  pid: number;
  processes: number;
  cpu: { usage: number };
}

/** An image (LXD's api.Image, the fields shoal fills). */
export interface Image {
  auto_update: boolean;
  properties: Record<string, string>;
  public: boolean;
  expires_at: string;
  profiles: string[];
  aliases: { name: string; description: string }[];
  architecture: string;
  cached: boolean;
  filename: string;
  fingerprint: string;
  size: number;
  type: string;
  created_at: string;
  last_used_at: string;
  uploaded_at: string;
}

/** A profile (LXD's api.Profile). */
export interface Profile {
  name: string;
  description: string;
  config: Record<string, string>;
  devices: Devices;
  /** Instances that use it, as /1.0/instances/NAME URLs. */
  used_by: string[];
}
