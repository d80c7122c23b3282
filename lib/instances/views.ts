/**
 * The API's views of an instance: GET /1.0/instances/NAME from its record, its expanded config
 * and devices and liblxc's state; GET .../state from liblxc's state and /proc. No lookups of
 * their own: the manager hands in what it loaded.
 */
import type { Devices, InstanceRecord } from "../db/mod.ts";
import type { LxcState } from "./lxc.ts";
import { networkState } from "./nic.ts";
import { procNetworkState } from "./proc_net.ts";
import { memoryOf, processCount } from "./procfs.ts";
import { INSTANCE_STATUS, type InstanceJSON, type InstanceStateJSON } from "./types.ts";

/** An instance as the API shows it, with the status liblxc reports. */
export function instanceJSON(
  rec: InstanceRecord,
  e: { config: Record<string, string>; devices: Devices },
  s: LxcState,
): InstanceJSON {
  const status = INSTANCE_STATUS[s.state] ?? { status: "Error", code: 112 };
  return {
    architecture: rec.architecture,
    config: rec.config,
    devices: rec.devices,
    ephemeral: rec.ephemeral,
    profiles: rec.profiles,
    stateful: rec.stateful,
    description: rec.description,
    created_at: rec.created_at,
    expanded_config: e.config,
    expanded_devices: e.devices,
    name: rec.name,
    status: status.status,
    status_code: status.code,
    last_used_at: rec.last_used_at,
    location: rec.location,
    type: rec.type,
    project: rec.project,
  };
}

/** GET /state: status, pid, processes and memory from the cgroup where readable. */
export async function instanceStateJSON(s: LxcState): Promise<InstanceStateJSON> {
  const status = INSTANCE_STATUS[s.state] ?? { status: "Error", code: 112 };
  const running = s.state === "RUNNING" || s.state === "FROZEN";
  const mem = running ? await memoryOf(s.pid) : 0;
  return {
    status: status.status,
    status_code: status.code,
    disk: {},
    memory: { usage: mem, usage_peak: 0, swap_usage: 0, swap_usage_peak: 0 },
    network: running ? (await procNetworkState(s.pid) ?? await networkState(s.pid)) : null,
    pid: running ? s.pid : 0,
    processes: running ? await processCount(s.pid) : 0,
    cpu: { usage: 0 },
  };
}
