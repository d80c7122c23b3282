/**
 * nic devices of containers: a veth whose host end joins a bridge (a managed network's, or an
 * unmanaged `parent`), with a stable MAC kept in `volatile.<dev>.hwaddr`, and what the
 * container's interfaces hold once it runs. Kept apart from the rest of the liblxc config so that
 * network and id-map changes do not meet in one function.
 */
import type { NetworkStateJSON } from "../wire/instances.ts";
export type { NetworkStateJSON };
import { findNetwork, type ReadTx } from "../db/mod.ts";
import type { Devices } from "../db/mod.ts";
import { badRequest, runTool } from "../util/mod.ts";

/** A nic ready for liblxc. */
export interface NicPlan {
  device: string;
  /** The interface name inside the container. */
  name: string;
  bridge: string;
  /** The managed network it is on, if any (its DNS learns the instance's name). */
  network: string | null;
  hwaddr: string;
  hostName: string;
  mtu?: string;
}

/** The nic devices of an expanded device set, in name order. */
export function nicDevices(devices: Devices): [string, Record<string, string>][] {
  return Object.entries(devices).filter(([, d]) => d.type === "nic").sort(([a], [b]) => a.localeCompare(b));
}

/** Why a nic cannot be used (LXD's "Device validation failed"), or null; tx finds managed networks. */
export function nicProblem(tx: ReadTx, device: string, d: Record<string, string>): string | null {
  const fail = (why: string) => `Device validation failed for "${device}": ${why}`;
  if (d.network) {
    if (d.nictype && d.nictype !== "bridged") {
      return fail(`Cannot use "nictype" property in conjunction with "network" property`);
    }
    if (d.parent) return fail(`Cannot use "parent" property in conjunction with "network" property`);
    if (!findNetwork(tx, d.network, null)) {
      return fail(`Failed loading network "${d.network}": Network not found`);
    }
    return null;
  }
  if (!d.nictype) return fail(`Missing nic type`);
  if (d.nictype !== "bridged") return fail(`Unsupported nic type "${d.nictype}": shoal has bridged nics`);
  if (!d.parent) return fail(`Missing parent for bridged nic`);
  if (d.hwaddr && !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(d.hwaddr)) return fail(`Invalid value for hwaddr`);
  return null;
}

/** A MAC in LXD's range (00:16:3e, Xensource's OUI, which LXD uses). */
export function randomMac(): string {
  const b = crypto.getRandomValues(new Uint8Array(3));
  return ["00", "16", "3e", ...[...b].map((x) => x.toString(16).padStart(2, "0"))].join(":");
}

/**
 * Plans the nics of a container about to start: its devices and config in; the plans and the
 * volatile keys to store (a MAC once, a new host-side veth name each start) out.
 */
export function planNics(
  devices: Devices,
  config: Record<string, string>,
): { nics: NicPlan[]; volatile: Record<string, string> } {
  const nics: NicPlan[] = [];
  const volatile: Record<string, string> = {};
  for (const [device, d] of nicDevices(devices)) {
    const hwaddr = d.hwaddr || config[`volatile.${device}.hwaddr`] || randomMac();
    if (!d.hwaddr && config[`volatile.${device}.hwaddr`] !== hwaddr) {
      volatile[`volatile.${device}.hwaddr`] = hwaddr;
    }
    const hostName = `veth${
      [...crypto.getRandomValues(new Uint8Array(4))].map((x) => x.toString(16).padStart(2, "0")).join("")
    }`;
    volatile[`volatile.${device}.host_name`] = hostName;
    nics.push({
      device,
      name: d.name || device,
      bridge: d.network || d.parent!,
      network: d.network || null,
      hwaddr,
      hostName,
      mtu: d.mtu,
    });
  }
  return { nics, volatile };
}

/** liblxc's lines for the nics (or an empty network namespace when there are none). */
export function renderNics(nics: NicPlan[]): string[] {
  if (nics.length === 0) return ["lxc.net.0.type = empty"];
  return nics.flatMap((n, i) => [
    `lxc.net.${i}.type = veth`,
    `lxc.net.${i}.link = ${n.bridge}`,
    `lxc.net.${i}.flags = up`,
    `lxc.net.${i}.name = ${n.name}`,
    `lxc.net.${i}.hwaddr = ${n.hwaddr}`,
    `lxc.net.${i}.veth.pair = ${n.hostName}`,
    ...(n.mtu ? [`lxc.net.${i}.mtu = ${n.mtu}`] : []),
  ]);
}

/** The interfaces of a running container, read in its network namespace. */
export async function networkState(
  pid: number,
  hostNames: Record<string, string> = {},
): Promise<Record<string, NetworkStateJSON> | null> {
  const r = await runTool("nsenter", [`--net=/proc/${pid}/ns/net`, "ip", "-j", "-s", "addr", "show"]);
  if (r.code !== 0) return null;
  let links: {
    ifname: string;
    address?: string;
    mtu: number;
    operstate?: string;
    link_type?: string;
    flags?: string[];
    addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
    stats64?: { rx: { bytes: number; packets: number }; tx: { bytes: number; packets: number } };
  }[];
  try {
    links = JSON.parse(r.stdout);
  } catch {
    return null;
  }
  const out: Record<string, NetworkStateJSON> = {};
  for (const l of links) {
    out[l.ifname] = {
      addresses: (l.addr_info ?? []).map((a) => ({
        family: a.family === "inet6" ? "inet6" : "inet",
        address: a.local,
        netmask: String(a.prefixlen),
        scope: a.scope === "host" ? "local" : a.scope,
      })),
      counters: {
        bytes_received: l.stats64?.rx.bytes ?? 0,
        bytes_sent: l.stats64?.tx.bytes ?? 0,
        packets_received: l.stats64?.rx.packets ?? 0,
        packets_sent: l.stats64?.tx.packets ?? 0,
      },
      hwaddr: l.address ?? "",
      host_name: hostNames[l.ifname] ?? "",
      mtu: l.mtu,
      state: (l.flags ?? []).includes("UP") ? "up" : "down",
      type: l.link_type === "loopback" ? "loopback" : "broadcast",
    };
  }
  return out;
}

/** Refuses (400) the first nic that cannot be used. */
export function checkNics(tx: ReadTx, devices: Devices): void {
  for (const [device, d] of nicDevices(devices)) {
    const p = nicProblem(tx, device, d);
    if (p) throw badRequest(p);
  }
}
