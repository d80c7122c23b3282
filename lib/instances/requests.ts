/**
 * The checks of a create (POST /1.0/instances) or update (PUT /1.0/instances/NAME) request that
 * need nothing but the request: name, type, config, devices, source type. Those that need the
 * database (project room, profiles, networks, pools) stay with the manager.
 */
import { checkDevices, type Devices } from "../db/mod.ts";
import { configProblem } from "./config.ts";
import { instanceNameProblem } from "./names.ts";
import type { InstancesPost } from "./types.ts";

/** Why a create request is refused on its own terms (LXD's texts where LXD has one), or null. */
export function createRequestProblem(req: InstancesPost): string | null {
  const name = req.name ?? "";
  if (name === "") return "Instance name is required";
  const bad = instanceNameProblem(name);
  if (bad) return bad;
  if (req.type && req.type !== "container") {
    return `Instance type "${req.type}" is not supported: shoal runs containers`;
  }
  const cp = configProblem(req.config ?? {});
  if (cp) return `Invalid config: ${cp}`;
  const dp = checkDevices(req.devices);
  if (dp) return dp;
  const sourceType = req.source?.type ?? "none";
  if (!["image", "none"].includes(sourceType)) return `Unknown source type ${sourceType}`;
  return null;
}

/** Why an update's config or devices are refused, or null. */
export function updateRequestProblem(
  u: { config?: Record<string, string>; devices?: Devices },
): string | null {
  const cp = configProblem(u.config ?? {});
  if (cp) return `Invalid config: ${cp}`;
  return checkDevices(u.devices);
}

/** The config an update stores: the request's, with the current volatile.* keys. */
export function keepVolatile(
  current: Record<string, string>,
  requested: Record<string, string>,
): Record<string, string> {
  // volatile.* keys are the daemon's: keep them whatever the caller sent back.
  const kept = Object.fromEntries(Object.entries(current).filter(([k]) => k.startsWith("volatile.")));
  return {
    ...Object.fromEntries(Object.entries(requested).filter(([k]) => !k.startsWith("volatile."))),
    ...kept,
  };
}
