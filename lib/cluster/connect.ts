import { Client } from "../client/mod.ts";
import type { KeyPair } from "../tls/mod.ts";

/**
 * Clients to other members, one per address: pinned to the cluster certificate (what every
 * member serves), presenting this member's own certificate: members know each other by their own
 * certificates, so a removed member's copy of the cluster key opens nothing.
 */
export class MemberClients {
  #clients = new Map<string, Client>();
  #tls: () => KeyPair | null;
  #own: () => KeyPair;

  constructor(tls: () => KeyPair | null, own: () => KeyPair) {
    this.#tls = tls;
    this.#own = own;
  }

  /** The client of the member at address (host:port). */
  get(address: string): Client {
    let c = this.#clients.get(address);
    if (c) return c;
    const tls = this.#tls();
    if (!tls) throw new Error("This member is not clustered: it has no cluster certificate");
    c = new Client({
      kind: "https",
      url: `https://${address}`,
      serverCert: tls.cert,
      clientCert: this.#own(),
    }, {
      userAgent: "lxd-cluster-notifier",
    });
    this.#clients.set(address, c);
    return c;
  }

  /** Drops every cached client (the cluster certificate changed). */
  reset(): void {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }
}
