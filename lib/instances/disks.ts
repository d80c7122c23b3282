/**
 * Disk devices other than the root one: a custom volume of a pool mounted at a path in the
 * container (`pool` + `source` + `path`), as liblxc bind mounts. Kept apart from the rest of the
 * liblxc config, as nic.ts is.
 */
import { type Devices, findCustomVolumes, type ReadTx } from "../db/mod.ts";
import type { StorageDriver } from "../storage/mod.ts";
import { badRequest } from "../util/mod.ts";

/** The volume disks of a device set (everything of type disk but the root), in name order. */
export function volumeDisks(devices: Devices): [string, Record<string, string>][] {
  return Object.entries(devices).filter(([, d]) => d.type === "disk" && d.path !== "/")
    .sort(([a], [b]) => a.localeCompare(b));
}

/** Refuses (400) a disk that cannot be attached here: the volume must exist on this member. */
export function checkDisks(
  tx: ReadTx,
  devices: Devices,
  member: string,
  clustered: boolean,
  project?: string,
): void {
  for (const [name, d] of volumeDisks(devices)) {
    const fail = (why: string) => badRequest(`Device validation failed for "${name}": ${why}`);
    if (!d.path || !d.path.startsWith("/")) {
      throw fail(`Disk "path" must be an absolute path in the instance`);
    }
    if (d.path.split("/").includes("..")) throw fail(`Disk "path" may not contain ".."`);
    if (!d.pool) {
      throw fail("Host paths as disk sources are not supported: attach a custom volume (pool and source)");
    }
    if (!d.source || d.source.includes("/")) {
      throw fail(`Disk "source" must name a custom volume of pool "${d.pool}"`);
    }
    const vols = findCustomVolumes(tx, d.pool, d.source, project);
    if (!vols.some((v) => !clustered || v.location === member)) {
      throw fail(
        `Failed loading custom volume: Storage volume "${d.source}" not found in pool "${d.pool}" on this member`,
      );
    }
  }
}

/** liblxc's mount entries of the volume disks. */
export async function renderDiskMounts(
  devices: Devices,
  driverOf: (pool: string) => Promise<StorageDriver>,
  /** A volume's directory name in its pool (PROJECT_NAME, default's "default_NAME"). */
  diskName: (source: string) => string = (source) => `default_${source}`,
): Promise<string[]> {
  const out: string[] = [];
  for (const [, d] of volumeDisks(devices)) {
    if (!d.pool || !d.source || !d.path) continue;
    const host = (await driverOf(d.pool)).customPath(diskName(d.source));
    const opts = ["bind", "create=dir", ...(d.readonly === "true" ? ["ro"] : [])].join(",");
    out.push(`lxc.mount.entry = ${host} ${d.path.replace(/^\/+/, "")} none ${opts} 0 0`);
  }
  return out;
}
