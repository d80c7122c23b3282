import { listNodes } from "../db/mod.ts";
import { Client } from "../client/mod.ts";
import type { KeyPair } from "../tls/mod.ts";
import { badRequest, errorMessage, StatusError, unavailable } from "../util/mod.ts";
import { callMember, MEMBER_CALLS } from "./member_calls.ts";
import type { MemberList } from "./member_list.ts";
import type { Self } from "./self.ts";

/** The cluster certificate: served by every member and by Raft between members. */
export class ClusterCertificate {
  #self: Self;
  #members: MemberList;
  #onClusterTls: () => Promise<void>;

  /** onClusterTls: the daemon serves the cluster certificate from now on (restarts its listeners). */
  constructor(self: Self, members: MemberList, onClusterTls: () => Promise<void>) {
    this.#self = self;
    this.#members = members;
    this.#onClusterTls = onClusterTls;
  }

  /** Serves a cluster certificate (already on disk) from now on: API, clients and Raft. */
  async use(tls: KeyPair): Promise<void> {
    await this.#self.setTls(tls);
    await this.#self.gateway.setTls(tls);
    await this.#onClusterTls();
  }

  /** The daemon's listeners serve what the member has now (clustered, or standalone again). */
  served(): Promise<void> {
    return this.#onClusterTls();
  }

  /**
   * Replaces the cluster certificate on every member at once (PUT /1.0/cluster/certificate).
   * It needs every member: refused while one is offline, and undone on the members already
   * switched when one fails, so the cluster never ends up with two certificates.
   */
  async update(cert: string, key: string): Promise<void> {
    const self = this.#self;
    if (!self.clustered() || !self.tls) throw badRequest("This server is not clustered");
    const members = await this.#members.list();
    const offline = members.filter((m) => m.status !== "Online");
    if (offline.length > 0) {
      throw unavailable(
        `Cannot update the cluster certificate: it is needed by every member and ${
          offline.map((m) => `"${m.server_name}" (${m.message})`).join(", ")
        } ${offline.length === 1 ? "is" : "are"} offline; bring ${
          offline.length === 1 ? "it" : "them"
        } back or remove ${offline.length === 1 ? "it" : "them"} first`,
      );
    }
    const old = self.tls;
    const next: KeyPair = { cert, key };
    const others = self.stale(listNodes, []).filter((n) => n.address !== self.address());
    const done: string[] = [];
    try {
      for (const n of others) {
        await callMember(
          self.clients.get(n.address),
          MEMBER_CALLS.certificate,
          next,
          AbortSignal.timeout(10_000),
        );
        done.push(n.address);
      }
    } catch (e) {
      // Those already switched serve the new certificate now: reach them with it to switch back.
      for (const address of done) {
        const c = new Client({
          kind: "https",
          url: `https://${address}`,
          serverCert: cert,
          clientCert: self.serverCert(),
        });
        await callMember(c, MEMBER_CALLS.certificate, old, AbortSignal.timeout(10_000))
          .catch((err) =>
            self.log.error("Could not restore the cluster certificate", {
              address,
              err: errorMessage(err),
            })
          )
          .finally(() => c.close());
      }
      throw new StatusError(
        500,
        `Cannot update the cluster certificate: ${errorMessage(e)}; nothing was changed`,
      );
    }
    await this.install(next);
  }

  /** This member's part of a certificate update: write it and serve it, for Raft too. */
  async install(tls: KeyPair): Promise<void> {
    await this.#self.writeTls(tls);
    await this.use(tls);
    this.#self.events.lifecycle("cluster-certificate-updated", "/1.0/cluster/certificate");
  }
}
