import type { Devices } from "../db/mod.ts";
import { cpuSet, parseMemory } from "./lxc.ts";

const BOOL = ["true", "false", "1", "0", "yes", "no", "on", "off"];

/** Instance config keys shoal knows, each with LXD's check; the reason, or null when fine. */
const KEYS: Record<string, (v: string) => string | null> = {
  "limits.memory": (v) =>
    /^\d+%$/.test(v) || parseMemory(v) !== null ? null : `Invalid value for an integer "${v}"`,
  "limits.cpu": (v) => cpuSet(v, 1 << 16) !== null ? null : `Invalid CPU limit syntax "${v}"`,
  "limits.processes": (v) => /^\d+$/.test(v) ? null : `Invalid value for an integer "${v}"`,
  "boot.autostart": (v) => BOOL.includes(v.toLowerCase()) ? null : `Invalid value for a boolean "${v}"`,
  "boot.autostart.delay": (v) => /^\d+$/.test(v) ? null : `Invalid value for an integer "${v}"`,
  "boot.autostart.priority": (v) => /^\d+$/.test(v) ? null : `Invalid value for an integer "${v}"`,
  "boot.host_shutdown_timeout": (v) => /^\d+$/.test(v) ? null : `Invalid value for an integer "${v}"`,
  "boot.stop.priority": (v) => /^\d+$/.test(v) ? null : `Invalid value for an integer "${v}"`,
  "security.privileged": (v) => BOOL.includes(v.toLowerCase()) ? null : `Invalid value for a boolean "${v}"`,
  "security.nesting": (v) => BOOL.includes(v.toLowerCase()) ? null : `Invalid value for a boolean "${v}"`,
  "raw.lxc": () => null,
  // What an evacuation does with the instance (lib/cluster/evacuate_plan.ts).
  "cluster.evacuate": (v) =>
    ["auto", "migrate", "live-migrate", "stop"].includes(v)
      ? null
      : `Invalid value "${v}" (not one of [auto migrate live-migrate stop])`,
};

/** Checks instance config as LXD does; returns its message for the first bad key, or null. */
export function configProblem(config: Record<string, string>, profile = false): string | null {
  for (const k of Object.keys(config).sort()) {
    const v = config[k]!;
    if (typeof v !== "string") return `Invalid value for config key "${k}": expected a string`;
    if (/^(environment|user|image|volatile)\./.test(k)) {
      if (profile && k.startsWith("volatile.")) return `Volatile keys can only be set on instances: ${k}`;
      continue;
    }
    const check = KEYS[k];
    if (!check) return `Unknown configuration key: ${k}`;
    const p = check(v);
    if (p !== null) return `Invalid value for config key "${k}": ${p}`;
  }
  return null;
}

/** True for "true", "1", "yes", "on" (LXD's shared.IsTrue). */
export function isTrue(v: string | undefined): boolean {
  return v !== undefined && ["true", "1", "yes", "on"].includes(v.toLowerCase());
}

/** Profiles applied in order, then the instance's own values (LXD's expanded config). */
export function expand(
  profiles: { config: Record<string, string>; devices: Devices }[],
  own: { config: Record<string, string>; devices: Devices },
): { config: Record<string, string>; devices: Devices } {
  const config: Record<string, string> = {};
  const devices: Devices = {};
  for (const p of [...profiles, own]) {
    Object.assign(config, p.config);
    Object.assign(devices, p.devices);
  }
  return { config: sortKeys(config), devices: sortKeys(devices) };
}

/** The root disk device (type disk, path /) of a set of devices. */
export function rootDisk(devices: Devices): { name: string; pool: string } | null {
  for (const [name, d] of Object.entries(devices)) {
    if (d.type === "disk" && d.path === "/" && d.pool) return { name, pool: d.pool };
  }
  return null;
}

/** An object with its keys sorted, as LXD's maps print. */
export function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]!]));
}

/** Renders an image template the way LXD's pongo2 templates use it (the variables images rely on). */
export function renderTemplate(
  text: string,
  vars: { name: string; architecture: string; trigger: string },
): string {
  return text.replace(/\{\{\s*([a-z_.]+)\s*\}\}/g, (all, v: string) => {
    switch (v) {
      case "container.name":
      case "instance.name":
        return vars.name;
      case "container.architecture":
      case "instance.architecture":
        return vars.architecture;
      case "trigger":
        return vars.trigger;
      default:
        return all;
    }
  });
}
