/**
 * A running container's interfaces read from /proc and its own /sys, without entering its network
 * namespace: `lxc list` asks for every container's addresses, and one `nsenter ip` process per
 * container cost most of a list of a member's containers. What a namespace's /proc/PID/net
 * holds: IPv6 addresses (if_inet6), IPv4 ones (fib_trie's local entries) and the routes that
 * name their interface (route); the container's sysfs (mounted in its namespace by liblxc,
 * lxc.mount.auto sys) has each interface's flags, MTU, MAC and counters. Anything that cannot be
 * read or placed this way makes the caller fall back to `ip` (null).
 */
import type { NetworkStateJSON } from "./nic.ts";

async function text(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return null;
  }
}

/** An IPv6 address from if_inet6's 32 hex digits, in RFC 5952's form (as ip prints it). */
export function ipv6Text(hex: string): string {
  const groups = [...Array(8).keys()].map((i) => parseInt(hex.slice(i * 4, i * 4 + 4), 16).toString(16));
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

const V6_SCOPES: Record<number, string> = { 0x00: "global", 0x10: "local", 0x20: "link", 0x40: "site" };

function ipv4Number(a: string): number {
  return a.split(".").reduce((n, x) => n * 256 + Number(x), 0);
}

/** A /proc/net/route field (hex, little-endian) as a number. */
function routeNumber(hex: string): number {
  const v = parseInt(hex, 16);
  return ((v & 0xff) << 24 >>> 0) + ((v >>> 8) & 0xff) * 65536 + ((v >>> 16) & 0xff) * 256 + (v >>> 24);
}

/**
 * IPv4 addresses and their prefixes from fib_trie: a "/32 host LOCAL" leaf is an address; the
 * longest other leaf of the local or link kind that holds it gives its prefix (127.0.0.0/8 host
 * LOCAL for lo's, 192.0.2.0/24 link UNICAST for a LAN's).
 */
export function fibAddresses(trie: string): { address: string; prefix: number; hostPrefix: boolean }[] {
  const leaves: { net: string; prefix: number; kind: string; type: string }[] = [];
  let current = "";
  for (const line of trie.split("\n")) {
    const leaf = /\|-- (\d+\.\d+\.\d+\.\d+)$/.exec(line);
    if (leaf) {
      current = leaf[1]!;
      continue;
    }
    const info = /^\s+\/(\d+) (\w+) (\w+)/.exec(line);
    if (info && current) {
      leaves.push({ net: current, prefix: Number(info[1]), kind: info[2]!, type: info[3]! });
    }
  }
  const seen = new Set<string>();
  const out: { address: string; prefix: number; hostPrefix: boolean }[] = [];
  for (const l of leaves) {
    if (l.prefix !== 32 || l.type !== "LOCAL" || seen.has(l.net)) continue;
    seen.add(l.net);
    const a = ipv4Number(l.net);
    let prefix = 32, hostPrefix = false;
    for (const p of leaves) {
      if (p.prefix >= 32 || p.prefix <= 0) continue;
      if (p.type !== "LOCAL" && !(p.type === "UNICAST" && p.kind === "link")) continue;
      const mask = (0xffffffff << (32 - p.prefix)) >>> 0;
      if (((a & mask) >>> 0) !== ((ipv4Number(p.net) & mask) >>> 0)) continue;
      if (prefix === 32 || p.prefix > prefix) [prefix, hostPrefix] = [p.prefix, p.type === "LOCAL"];
    }
    out.push({ address: l.net, prefix, hostPrefix });
  }
  return out;
}

/** The interface whose route holds address, from /proc/net/route (longest mask). */
function routeInterface(route: string, address: string): string | null {
  const a = ipv4Number(address);
  let best: { iface: string; bits: number } | null = null;
  for (const line of route.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const dest = routeNumber(f[1]!), mask = routeNumber(f[7]!);
    if (mask === 0) continue;
    if (((a & mask) >>> 0) !== dest) continue;
    const bits = mask.toString(2).replace(/0/g, "").length;
    if (!best || bits > best.bits) best = { iface: f[0]!, bits };
  }
  return best?.iface ?? null;
}

/** The interfaces of the network namespace of pid, as networkState gives them; null if unreadable. */
export async function procNetworkState(
  pid: number,
  hostNames: Record<string, string> = {},
): Promise<Record<string, NetworkStateJSON> | null> {
  const sys = `/proc/${pid}/root/sys/class/net`;
  const [trie, route, inet6] = await Promise.all([
    text(`/proc/${pid}/net/fib_trie`),
    text(`/proc/${pid}/net/route`),
    text(`/proc/${pid}/net/if_inet6`),
  ]);
  if (trie === null || route === null) return null;
  const names: { name: string; index: number }[] = [];
  try {
    for await (const e of Deno.readDir(sys)) names.push({ name: e.name, index: 0 });
  } catch {
    return null;
  }
  if (names.length === 0) return null;
  const out: Record<string, NetworkStateJSON> = {};
  const read = (n: string, f: string) => text(`${sys}/${n}/${f}`).then((v) => v?.trim() ?? null);
  for (const n of names) {
    const [index, address, mtu, flags, type, rxb, txb, rxp, txp] = await Promise.all(
      [
        "ifindex",
        "address",
        "mtu",
        "flags",
        "type",
        ...[
          "rx_bytes",
          "tx_bytes",
          "rx_packets",
          "tx_packets",
        ].map((s) => `statistics/${s}`),
      ].map((f) => read(n.name, f)),
    );
    if (index == null || mtu == null || flags == null) return null; // null: unreadable; undefined: not read
    n.index = Number(index);
    const loopback = type === "772";
    out[n.name] = {
      addresses: [],
      counters: {
        bytes_received: Number(rxb ?? 0),
        bytes_sent: Number(txb ?? 0),
        packets_received: Number(rxp ?? 0),
        packets_sent: Number(txp ?? 0),
      },
      hwaddr: address ?? "",
      host_name: hostNames[n.name] ?? "",
      mtu: Number(mtu),
      state: (parseInt(flags, 16) & 1) === 1 ? "up" : "down",
      type: loopback ? "loopback" : "broadcast",
    };
  }
  for (const a of fibAddresses(trie)) {
    const iface = a.hostPrefix && a.address.startsWith("127.") ? "lo" : routeInterface(route, a.address);
    if (!iface || !out[iface]) return null;
    out[iface].addresses.push({
      family: "inet",
      address: a.address,
      netmask: String(a.prefix),
      scope: a.address.startsWith("127.") ? "local" : "global",
    });
  }
  for (const line of (inet6 ?? "").split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6) continue;
    const iface = out[f[5]!];
    if (!iface) return null;
    iface.addresses.push({
      family: "inet6",
      address: ipv6Text(f[0]!),
      netmask: String(parseInt(f[2]!, 16)),
      scope: V6_SCOPES[parseInt(f[3]!, 16)] ?? "global",
    });
  }
  // ip lists interfaces by index; the API's map is keyed by name, but its order shows in lxc info.
  return Object.fromEntries(names.sort((x, y) => x.index - y.index).map((n) => [n.name, out[n.name]!]));
}
