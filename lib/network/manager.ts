/**
 * This member's managed bridges: for each network, a Linux bridge with the network's address,
 * NAT when asked, and a supervised dnsmasq. The database says which networks exist; this class
 * makes them real in the daemon's network namespace and undoes them.
 */
import type { Logger } from "../log/mod.ts";
import { badRequest, errorMessage } from "../util/mod.ts";
import { attachExternal, deleteBridge, ensureBridge, setBridgeAddress, subnetsInUse } from "./bridge.ts";
import { isTrueValue } from "./config.ts";
import { Dnsmasq, type Lease } from "./dnsmasq.ts";
import { clearNat, enableForwarding, setNat } from "./nat.ts";
import {
  type Cidr4,
  dhcpRange,
  formatCidr4,
  formatIp4,
  networkOf,
  overlaps,
  parseCidr4,
  pickSubnet,
} from "./subnet.ts";

/** A network as this member runs it: global keys merged with its own. */
export interface NetworkSpec {
  name: string;
  config: Record<string, string>;
}

export class NetworkManager {
  #dnsmasq = new Map<string, Dnsmasq>();

  constructor(readonly o: { dir: string; log: Logger }) {}

  #dir(name: string): string {
    return `${this.o.dir}/${name}`;
  }

  /**
   * Resolves `ipv4.address=auto` to a free 10.x.y.1/24 and refuses an explicit address that
   * overlaps a subnet in use here (routes, addresses) or by another network (`taken`).
   */
  async resolveAddress(
    config: Record<string, string>,
    taken: string[],
    self?: string,
  ): Promise<Record<string, string>> {
    const used: Cidr4[] = [
      ...await subnetsInUse(self ? [self] : []),
      ...taken.map(parseCidr4).filter((c): c is Cidr4 => c !== null),
    ];
    const v = config["ipv4.address"];
    if (v === "auto") {
      const c = pickSubnet(used, Math.random);
      if (!c) {
        throw badRequest("Failed to automatically find an unused IPv4 subnet, manual configuration required");
      }
      return { ...config, "ipv4.address": formatCidr4(c) };
    }
    const c = v ? parseCidr4(v) : null;
    if (c) {
      const clash = used.find((u) => overlaps(u, c));
      if (clash) {
        throw badRequest(
          `Network address "${v}" overlaps ${
            formatIp4(networkOf(clash))
          }/${clash.prefix}, which is already in use: pick another ipv4.address, or auto`,
        );
      }
    }
    return config;
  }

  /** Brings a network up here (idempotent: a restart, or a config change). */
  async start(spec: NetworkSpec): Promise<void> {
    const { name, config } = spec;
    const dir = this.#dir(name);
    await Deno.mkdir(dir, { recursive: true, mode: 0o711 });
    await ensureBridge(name, { mtu: config["bridge.mtu"], hwaddr: config["bridge.hwaddr"] });
    const addr = config["ipv4.address"];
    const cidr = addr && addr !== "none" ? parseCidr4(addr) : null;
    await setBridgeAddress(name, cidr ? formatCidr4(cidr) : null);
    if (config["bridge.external_interfaces"]) {
      await attachExternal(name, config["bridge.external_interfaces"]);
    }
    if (cidr && isTrueValue(config["ipv4.nat"])) {
      await enableForwarding();
      await setNat(name, `${formatIp4(networkOf(cidr))}/${cidr.prefix}`);
    } else {
      await clearNat(name);
    }
    await this.#dnsmasq.get(name)?.stop();
    this.#dnsmasq.delete(name);
    if (!cidr) return;
    const d = new Dnsmasq({
      bridge: name,
      gateway: formatIp4(cidr.address),
      range: config["ipv4.dhcp"] === undefined || isTrueValue(config["ipv4.dhcp"]) ? dhcpRange(cidr) : null,
      domain: config["dns.domain"] || "lxd",
      dir,
    }, this.o.log);
    await d.start();
    this.#dnsmasq.set(name, d);
  }

  /** Takes a network down here: dnsmasq, NAT, the bridge and its directory. */
  async delete(name: string): Promise<void> {
    await this.#dnsmasq.get(name)?.stop();
    this.#dnsmasq.delete(name);
    await clearNat(name);
    await deleteBridge(name);
    await Deno.remove(this.#dir(name), { recursive: true }).catch(() => {});
  }

  /** Whether dnsmasq runs for a network here. */
  running(name: string): boolean {
    return this.#dnsmasq.get(name)?.pid !== undefined && this.#dnsmasq.get(name)?.pid !== null;
  }

  /** The pid of a network's dnsmasq (tests of supervision). */
  dnsmasqPid(name: string): number | null {
    return this.#dnsmasq.get(name)?.pid ?? null;
  }

  /** The DHCP leases of a network here. */
  async leases(name: string): Promise<Lease[]> {
    return await this.#dnsmasq.get(name)?.leases() ?? [];
  }

  /**
   * Gives an instance's MAC its name in the network's DNS (dnsmasq's hosts directory, read on
   * change), so that instances reach each other by name.
   */
  async setHost(network: string, instance: string, hwaddr: string): Promise<void> {
    const d = this.#dnsmasq.get(network);
    if (!d) return;
    const f = `${d.hostsDir}/${instance}`;
    const line = `${hwaddr},${instance}\n`;
    const cur = await Deno.readTextFile(f).catch(() => "");
    if (cur === line) return;
    await Deno.writeTextFile(f, line, { mode: 0o644 });
    d.reload();
  }

  /** Forgets an instance's name in a network's DNS. */
  async removeHost(network: string, instance: string): Promise<void> {
    const d = this.#dnsmasq.get(network);
    if (!d) return;
    await Deno.remove(`${d.hostsDir}/${instance}`).catch(() => {});
    d.reload();
  }

  /** At daemon stop: dnsmasq goes with it; bridges stay for the containers that keep running. */
  async shutdown(): Promise<void> {
    await Promise.all(
      [...this.#dnsmasq.values()].map((d) =>
        d.stop().catch((e) =>
          this.o.log.warn("Failed to stop dnsmasq", { network: d.cfg.bridge, err: errorMessage(e) })
        )
      ),
    );
    this.#dnsmasq.clear();
  }
}
