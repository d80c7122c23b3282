/**
 * A container's liblxc config as written before each start, from its expanded config and
 * devices: the network (nic.ts), disk mounts (disks.ts) under the id map (shift.ts), and the
 * security lines (security.ts). The manager decides when; this module only assembles.
 */
import { type Devices, volumeKey } from "../db/mod.ts";
import type { StorageDriver } from "../storage/mod.ts";
import { renderDiskMounts } from "./disks.ts";
import { type LxcDriver, renderLxcConfig } from "./lxc.ts";
import { type NicPlan, renderNics } from "./nic.ts";
import { idmapMountEntries, securityLines } from "./security.ts";
import { idmappedMounts, type IdmapPlan } from "./shift.ts";

/** What a start knows when it writes the config. */
export interface StartConfigInput {
  /** The API's name, and liblxc's (PROJECT_NAME outside the default project). */
  name: string;
  key: string;
  rootfs: string;
  lxc: LxcDriver;
  cgroup: "v1" | "v2";
  expanded: { config: Record<string, string>; devices: Devices };
  nics: NicPlan[];
  idmap: IdmapPlan;
  pool: (name: string) => Promise<StorageDriver>;
  /** The project whose custom volumes the instance's disks name. */
  volumes: string;
}

/** The liblxc config text of a container about to start. */
export async function lxcConfigAtStart(i: StartConfigInput): Promise<string> {
  const e = i.expanded;
  return renderLxcConfig({
    name: i.name,
    rootfs: i.rootfs,
    logFile: i.lxc.logPath(i.key),
    consoleFile: i.lxc.consolePath(i.key),
    config: e.config,
    cgroup: i.cgroup,
    network: renderNics(i.nics),
    mounts: await idmapMountEntries(
      await renderDiskMounts(e.devices, i.pool, (source) => volumeKey(i.volumes, source)),
      i.idmap.idmap,
      idmappedMounts,
    ),
    extra: securityLines({
      config: e.config,
      idmap: i.idmap.idmap,
      idmappedRootfs: i.idmap.idmappedRootfs,
      cgroup: i.cgroup,
    }),
  });
}
