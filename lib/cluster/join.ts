import { Client } from "../client/mod.ts";
import { GLOBAL_SCHEMA_VERSION, listNodes } from "../db/mod.ts";
import { DirPool } from "../storage/mod.ts";
import { fingerprint, type KeyPair } from "../tls/mod.ts";
import { badRequest, errorMessage, sleep, StatusError, unavailable } from "../util/mod.ts";
import type { AcceptReply, ClusterPut, JoinToken, MemberConfigKey } from "../wire/mod.ts";
import { encodeToken } from "../wire/tokens.ts";
import type { ClusterCertificate } from "./certificate.ts";
import type { Forwarding } from "./forwarding.ts";
import type { Heartbeats } from "./heartbeat.ts";
import { callMember, MEMBER_CALLS } from "./member_calls.ts";
import { addPoolMember, clusterPools } from "./member_config.ts";
import { checkMemberName } from "./members.ts";
import type { Self } from "./self.ts";

/** What a join needs besides the member itself. */
export interface JoinParts {
  forwarding: Forwarding;
  heartbeats: Heartbeats;
  certificate: ClusterCertificate;
  /** This member's own server certificate: the one the cluster is asked to trust. */
  serverCert: () => KeyPair;
}

/**
 * The joiner's side of a join (PUT /1.0/cluster on the joiner, inside the "Joining cluster"
 * operation): be trusted, be accepted by the leader, then become that member. This member's
 * database is replaced by the cluster's.
 */
export class Joiner {
  #self: Self;
  #p: JoinParts;

  constructor(self: Self, parts: JoinParts) {
    this.#self = self;
    this.#p = parts;
  }

  /** Joins the cluster named by a token or by address + certificate + trust password. */
  async join(req: ClusterPut, token: JoinToken | null): Promise<void> {
    const self = this.#self;
    const name = req.server_name ?? "";
    checkMemberName(name);
    if (self.clustered()) throw badRequest("This server is already clustered");
    const serverAddress = req.server_address ?? "";
    if (serverAddress === "") throw badRequest("No server address provided for this member");
    const clusterAddress = req.cluster_address ?? "";
    const clusterCert = req.cluster_certificate ?? "";
    if (clusterCert === "") throw badRequest("No target cluster member certificate provided");
    const pin = await fingerprint(clusterCert);
    if (token && token.fingerprint !== pin) {
      throw badRequest(
        `Certificate fingerprint mismatch between join token and cluster member "${clusterAddress}"`,
      );
    }
    const own = this.#p.serverCert();
    const client = new Client(
      { kind: "https", url: `https://${clusterAddress}`, serverCert: clusterCert, clientCert: own },
      { userAgent: "lxd-cluster-join" },
    );
    let reply: AcceptReply;
    try {
      // 1. Be trusted: our server certificate, vouched for by the token or the trust password.
      try {
        await callMember(client, MEMBER_CALLS.trustServer, {
          type: "server",
          name,
          certificate: own.cert.replace(/-----[A-Z ]+-----|\s/g, ""),
          password: token ? encodeToken(token) : (req.cluster_password ?? ""),
        });
      } catch (e) {
        // Trusted already (an earlier join attempt got this far): the credential was checked
        // before the store refused the duplicate, so go on.
        if (!(e instanceof StatusError && /already in trust store/.test(e.message))) {
          throw new StatusError(
            e instanceof StatusError ? e.status : 500,
            `Failed joining cluster: Failed setting up cluster trust: Failed adding server cert to cluster: ${
              errorMessage(e)
            }`,
          );
        }
      }
      // 2. Be accepted by the leader.
      reply = await callMember(client, MEMBER_CALLS.accept, {
        name,
        address: serverAddress,
        arch: Deno.build.arch,
        schema: GLOBAL_SCHEMA_VERSION,
        apiExtensions: self.apiExtensions,
        version: self.version,
        pools: self.stale(clusterPools, []),
        memberConfig: (req.member_config ?? []) as MemberConfigKey[],
      }).catch((e) => {
        throw new StatusError(
          e instanceof StatusError ? e.status : 500,
          `Failed joining cluster: Failed request to add member: ${errorMessage(e)}`,
        );
      });
    } finally {
      client.close();
    }
    // 3. Become that member: the cluster certificate, our address, and an empty database that
    // the leader fills.
    const tls: KeyPair = { cert: reply.clusterCert, key: reply.clusterKey };
    await self.writeTls(tls);
    const updates: Record<string, string> = { "cluster.https_address": serverAddress };
    if (self.local.get("core.https_address") === "") updates["core.https_address"] = serverAddress;
    self.local.update(updates);
    await self.setTls(tls);
    await self.gateway.setTls(tls);
    self.gateway.joinAs(reply.raftId, reply.raftNodes);
    this.#p.heartbeats.restart();
    await this.#p.certificate.served();
    // 4. Wait until our own row has reached us: then this member serves the cluster's state.
    const deadline = Date.now() + 60_000;
    while (!self.stale((tx) => listNodes(tx).some((n) => n.address === serverAddress), false)) {
      if (Date.now() > deadline) {
        throw unavailable("Joined, but the cluster database did not reach this member");
      }
      await sleep(20);
    }
    await this.#createLocalPools(name, (req.member_config ?? []) as MemberConfigKey[]);
    self.events.lifecycle("cluster-member-added", `/1.0/cluster/members/${name}`);
    self.log.info("Joined the cluster", { name, address: serverAddress, raftId: reply.raftId });
    // Ask the leader to give us a database role now rather than at its next heartbeat.
    void this.#p.forwarding.leaderRequest(MEMBER_CALLS.rebalance, {}).catch(() => {});
  }

  /** A new member's part of each of the cluster's pools: its directory and its own keys. */
  async #createLocalPools(member: string, answers: MemberConfigKey[]): Promise<void> {
    const self = this.#self;
    for (const p of self.stale(clusterPools, [])) {
      const source = answers.find((a) =>
        a.entity === "storage-pool" && a.name === p.name && a.key === "source"
      )?.value;
      const pool = new DirPool(p.name, `${self.dir}/storage-pools`, source);
      await pool.create();
      await self.db.run(addPoolMember, { pool: p.name, member, config: { source: pool.path } });
    }
  }
}
