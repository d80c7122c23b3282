/**
 * The config of a managed bridge: which keys exist, which are a member's own, what their values
 * may be, and the defaults LXD fills in at creation. Pure, so the API and the tests share it.
 */
import { gatewayProblem } from "./subnet.ts";

/** Keys each member keeps for itself (LXD: bridge.external_interfaces, parent...). */
export const NETWORK_MEMBER_KEYS = ["bridge.external_interfaces"] as const;

const BOOL = ["true", "false", "1", "0", "yes", "no", "on", "off"];

/** Checks of the keys shoal implements for bridges; every other key is refused by name. */
const KEYS: Record<string, (v: string) => string | null> = {
  "ipv4.address": (v) => (v === "auto" || v === "none" || v === "") ? null : gatewayProblem(v),
  "ipv4.nat": (v) => BOOL.includes(v) ? null : "Invalid value for a boolean",
  "ipv4.dhcp": (v) => BOOL.includes(v) ? null : "Invalid value for a boolean",
  // IPv6 on bridges is not implemented: only "none" (or nothing) is honest.
  "ipv6.address": (v) =>
    v === "none" || v === ""
      ? null
      : `IPv6 on managed bridges is not supported by shoal yet: set ipv6.address=none`,
  "ipv6.nat": (v) => BOOL.includes(v) ? null : "Invalid value for a boolean",
  "dns.domain": (v) =>
    /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(v)
      ? null
      : "Invalid domain name",
  "bridge.mtu": (v) => /^\d+$/.test(v) && Number(v) >= 1280 && Number(v) <= 65535 ? null : "Invalid MTU",
  "bridge.hwaddr": (v) => /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(v) ? null : "Invalid MAC address",
  "bridge.driver": (v) => v === "native" ? null : `Only the "native" bridge driver is supported`,
  "bridge.external_interfaces": (v) =>
    v.split(",").every((i) => i.trim() === "" || interfaceNameProblem(i.trim()) === null)
      ? null
      : "Invalid interface name",
};

/** Why a value cannot be a Linux interface name, or null (also the rule for network names). */
export function interfaceNameProblem(name: string): string | null {
  if (name === "") return "Network name cannot be empty";
  if (name.length > 15) return "Network name too long (maximum 15 characters)";
  if (name === "." || name === "..") return `Network name cannot be "${name}"`;
  if (!/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith("-")) {
    return "Network name may only contain letters, digits, '_', '.' and '-' and may not start with '-'";
  }
  return null;
}

/** Checks a config; the first problem in LXD's words, or null. */
export function networkConfigProblem(config: Record<string, string>): string | null {
  for (const [k, v] of Object.entries(config)) {
    if (k.startsWith("user.")) continue;
    const check = KEYS[k];
    if (!check) return `Invalid option "${k}"`;
    const p = check(v);
    if (p) {
      return `Invalid value for network "${k}" option: ${
        p.replace(/^Invalid value for network "[^"]*": /, "")
      }`;
    }
  }
  return null;
}

/** LXD's defaults at creation: an address chosen automatically with NAT, and no IPv6 here. */
export function fillDefaults(config: Record<string, string>): Record<string, string> {
  const c = { ...config };
  if (c["ipv4.address"] === undefined || c["ipv4.address"] === "") c["ipv4.address"] = "auto";
  if (c["ipv4.address"] === "auto" && c["ipv4.nat"] === undefined) c["ipv4.nat"] = "true";
  if (c["ipv6.address"] === undefined || c["ipv6.address"] === "") c["ipv6.address"] = "none";
  return c;
}

export function isTrueValue(v: string | undefined): boolean {
  return v !== undefined && ["true", "1", "yes", "on"].includes(v.toLowerCase());
}
