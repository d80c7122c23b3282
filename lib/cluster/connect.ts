import { Client } from "../client/mod.ts";
import type { KeyPair } from "../tls/mod.ts";

/**
 * Clients to other members, one per address: pinned to the cluster certificate, presenting it
 * as the client certificate (that is how members recognise each other).
 */
export class MemberClients {
  #clients = new Map<string, Client>();
  #tls: () => KeyPair | null;

  constructor(tls: () => KeyPair | null) {
    this.#tls = tls;
  }

  /** The client of the member at address (host:port). */
  get(address: string): Client {
    let c = this.#clients.get(address);
    if (c) return c;
    const tls = this.#tls();
    if (!tls) throw new Error("This member is not clustered: it has no cluster certificate");
    c = new Client({ kind: "https", url: `https://${address}`, serverCert: tls.cert, clientCert: tls }, {
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
