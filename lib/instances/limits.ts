/** Limits applied to a running container at once (LXD's live update of limits.*). */
import type { Logger } from "../log/mod.ts";
import { errorMessage } from "../util/mod.ts";
import { cpuSet, type LxcDriver, parseMemory } from "./lxc.ts";

/**
 * Applies limits.memory and limits.cpu from the expanded config to a running container's cgroup;
 * a stopped one gets them from its config at the next start. Where a controller is missing, the
 * limit applies where the machine allows (as LXD) and the miss is logged.
 */
export async function applyLimits(
  lxc: LxcDriver,
  name: string,
  cfg: Record<string, string>,
  cgroup: "v1" | "v2",
  log: Logger,
): Promise<void> {
  const v2 = cgroup === "v2";
  const settings: [string, string][] = [];
  const mem = cfg["limits.memory"] ? parseMemory(cfg["limits.memory"]) : null;
  settings.push([
    v2 ? "memory.max" : "memory.limit_in_bytes",
    mem === null ? (v2 ? "max" : "-1") : String(mem),
  ]);
  const cpus = navigator.hardwareConcurrency || 1;
  settings.push([
    "cpuset.cpus",
    (cfg["limits.cpu"] ? cpuSet(cfg["limits.cpu"], cpus) : null) ?? `0-${cpus - 1}`,
  ]);
  for (const [key, value] of settings) {
    try {
      await lxc.setCgroup(name, key, value);
    } catch (e) {
      log.warn("Could not apply a limit to the running instance", {
        instance: name,
        key,
        err: errorMessage(e),
      });
    }
  }
}
