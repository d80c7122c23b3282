/**
 * The Linux side of a managed bridge, through iproute2 in the daemon's own network namespace:
 * the bridge interface, its address, the interfaces it enslaves, and what routes are in use.
 */
import { mustRun, runTool } from "../util/mod.ts";
import { type Cidr4, parseCidr4 } from "./subnet.ts";

/** Whether an interface exists here. */
export async function linkExists(name: string): Promise<boolean> {
  return (await runTool("ip", ["link", "show", "dev", name])).code === 0;
}

/** Creates the bridge if it is missing and brings it up; idempotent (daemon restarts). */
export async function ensureBridge(name: string, o: { mtu?: string; hwaddr?: string } = {}): Promise<void> {
  if (!(await linkExists(name))) {
    await mustRun(`Failed creating bridge "${name}"`, "ip", ["link", "add", "dev", name, "type", "bridge"]);
  }
  if (o.hwaddr) {
    await mustRun(`Failed setting bridge.hwaddr`, "ip", ["link", "set", "dev", name, "address", o.hwaddr]);
  }
  if (o.mtu) await mustRun(`Failed setting bridge.mtu`, "ip", ["link", "set", "dev", name, "mtu", o.mtu]);
  await mustRun(`Failed bringing bridge "${name}" up`, "ip", ["link", "set", "dev", name, "up"]);
}

/** Sets the bridge's one IPv4 address (none: no address), replacing what it had. */
export async function setBridgeAddress(name: string, cidr: string | null): Promise<void> {
  await mustRun(`Failed flushing addresses of "${name}"`, "ip", ["-4", "addr", "flush", "dev", name]);
  if (cidr) {
    await mustRun(`Failed adding ${cidr} to "${name}"`, "ip", ["-4", "addr", "add", cidr, "dev", name]);
  }
}

/** Enslaves bridge.external_interfaces (comma separated) to the bridge. */
export async function attachExternal(name: string, interfaces: string): Promise<void> {
  for (const i of interfaces.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    await mustRun(`Failed attaching "${i}" to bridge "${name}"`, "ip", [
      "link",
      "set",
      "dev",
      i,
      "master",
      name,
      "up",
    ]);
  }
}

/** Removes the bridge; nothing when it is gone already. */
export async function deleteBridge(name: string): Promise<void> {
  if (await linkExists(name)) {
    await mustRun(`Failed deleting bridge "${name}"`, "ip", ["link", "del", "dev", name]);
  }
}

/**
 * The IPv4 prefixes in use here (routes and interface addresses), except those of the interfaces
 * named in `except` (a bridge that is being reconfigured does not collide with itself).
 */
export async function subnetsInUse(except: string[] = []): Promise<Cidr4[]> {
  const out: Cidr4[] = [];
  const routes = JSON.parse(
    await mustRun("Failed reading routes", "ip", ["-j", "-4", "route", "show"]) || "[]",
  ) as { dst?: string; dev?: string }[];
  for (const r of routes) {
    if (!r.dst || r.dst === "default" || (r.dev && except.includes(r.dev))) continue;
    const c = parseCidr4(r.dst.includes("/") ? r.dst : `${r.dst}/32`);
    // 127/8 is loopback's whatever the tables say; a /32 host route is not a subnet in use.
    if (c && c.address >>> 24 !== 127) out.push(c);
  }
  const addrs = JSON.parse(
    await mustRun("Failed reading addresses", "ip", ["-j", "-4", "addr", "show"]) || "[]",
  ) as { ifname: string; addr_info?: { local: string; prefixlen: number }[] }[];
  for (const l of addrs) {
    if (except.includes(l.ifname)) continue;
    for (const a of l.addr_info ?? []) {
      const c = parseCidr4(`${a.local}/${a.prefixlen}`);
      if (c && c.address >>> 24 !== 127) out.push(c);
    }
  }
  return out;
}
