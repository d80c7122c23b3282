/**
 * What a copy of an instance takes from its source (LXD's createFromCopy and
 * shared.InstanceIncludeWhenCopying): the request's own config, devices and profiles win; the
 * source fills in what the request leaves out; volatile keys, which describe one instance's life
 * (its MAC addresses, its id map, its power state), stay behind, except the base image.
 */
import type { Devices, InstanceRecord } from "../db/mod.ts";
import type { InstancesPost } from "./types.ts";

/**
 * Whether a source's config key goes to its copy. LXD keeps volatile.last_state.idmap on a local
 * copy only (a remote one learns it from the migration header); shoal streams the volume with
 * its owners as they are on disk, so the copy always takes the map its files are shifted by.
 */
export function keptWhenCopying(key: string): boolean {
  if (key === "volatile.base_image" || key === "volatile.last_state.idmap") return true;
  return !key.startsWith("volatile.");
}

/** A copy's config: the request's non-volatile keys over the source's kept ones. */
export function copiedConfig(
  source: Record<string, string>,
  requested: Record<string, string> = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(source)) if (keptWhenCopying(k)) out[k] = v;
  // lxc strips volatile keys from what it sends; a client that did not must not set them.
  for (const [k, v] of Object.entries(requested)) if (!k.startsWith("volatile.")) out[k] = v;
  return out;
}

/** A copy request completed from its source, as LXD's createFromCopy completes it. */
export function copyRequest(source: InstanceRecord, req: InstancesPost): InstancesPost {
  const devices: Devices = { ...source.devices, ...(req.devices ?? {}) };
  return {
    ...req,
    config: copiedConfig(source.config, req.config),
    devices,
    profiles: req.profiles ?? source.profiles,
    ephemeral: req.ephemeral ?? false,
    description: req.description ?? source.description,
  };
}
