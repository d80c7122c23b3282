/**
 * NAT for a managed bridge with nftables, as LXD 5.0 does on nft hosts: one table `inet shoal`,
 * one postrouting chain per network that masquerades what leaves the bridge's subnet.
 */
import { mustRun, runTool } from "../util/mod.ts";

const TABLE = "shoal";

/** Turns IPv4 forwarding on in this namespace (a bridge with NAT routes for its instances). */
export async function enableForwarding(): Promise<void> {
  await Deno.writeTextFile("/proc/sys/net/ipv4/ip_forward", "1");
}

/** Sets (or replaces) the masquerade rule of a network's subnet; the chain is the network's own. */
export async function setNat(network: string, subnet: string): Promise<void> {
  const chain = `pstrt.${network}`;
  await mustRun(
    `Failed setting up NAT for network "${network}"`,
    "nft",
    ["-f", "-"],
    [
      `add table inet ${TABLE}`,
      `add chain inet ${TABLE} ${chain} { type nat hook postrouting priority 100; policy accept; }`,
      `flush chain inet ${TABLE} ${chain}`,
      `add rule inet ${TABLE} ${chain} ip saddr ${subnet} ip daddr != ${subnet} oifname != "${network}" masquerade`,
      "",
    ].join("\n"),
  );
}

/** Removes a network's NAT chain; nothing when there is none. */
export async function clearNat(network: string): Promise<void> {
  await runTool("nft", ["delete", "chain", "inet", TABLE, `pstrt.${network}`]);
}

/** The rules of a network's chain as nft prints them (tests and `network info`). */
export async function natRules(network: string): Promise<string> {
  const r = await runTool("nft", ["list", "chain", "inet", TABLE, `pstrt.${network}`]);
  return r.code === 0 ? r.stdout : "";
}
