import { Client } from "../client/mod.ts";
import { addNetworkMember, addPoolMember, listNetworks, listNodes, listPools } from "../db/mod.ts";
import type { NetworkManager } from "../network/mod.ts";
import { openPool } from "../storage/mod.ts";
import { schemaVersion } from "./upgrade.ts";
import { fingerprint, type KeyPair } from "../tls/mod.ts";
import { badRequest, errorMessage, Revert, sleep, StatusError, unavailable } from "../util/mod.ts";
import type { AcceptReply, ClusterPut, JoinToken, MemberConfigKey } from "../wire/mod.ts";
import { encodeToken } from "../wire/tokens.ts";
import type { ClusterCertificate } from "./certificate.ts";
import type { Forwarding } from "./forwarding.ts";
import type { Heartbeats } from "./heartbeat.ts";
import { callMember, MEMBER_CALLS } from "./member_calls.ts";
import { clusterPools } from "./member_config.ts";
import { checkMemberName } from "./members.ts";
import type { Self } from "./self.ts";

/** Milliseconds spent on each step of a join, for its log line. */
class Phases {
  readonly took: Record<string, number> = {};
  #at = performance.now();
  mark(step: string): void {
    const now = performance.now();
    this.took[step] = Math.round(now - this.#at);
    this.#at = now;
  }
}

/** What a join needs besides the member itself. */
export interface JoinParts {
  forwarding: Forwarding;
  heartbeats: Heartbeats;
  certificate: ClusterCertificate;
  /** This member's own server certificate: the one the cluster is asked to trust. */
  serverCert: () => KeyPair;
  /** Brings a fresh standalone database up to date (schema, the "none" member). */
  onStandalone: () => Promise<void>;
  /** This member's bridges: a joiner brings up its part of the cluster's networks. */
  networks?: NetworkManager;
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
    const phase = new Phases();
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
      phase.mark("trustMs");
      reply = await callMember(client, MEMBER_CALLS.accept, {
        name,
        address: serverAddress,
        arch: Deno.build.arch,
        schema: schemaVersion(),
        apiExtensions: self.apiExtensions,
        version: self.version,
        pools: self.stale(clusterPools, []),
        secret: token ? encodeToken(token) : (req.cluster_password ?? ""),
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
    phase.mark("acceptMs");
    // From here on the cluster counts this member in: a failure takes every step back, so that
    // the member is as it was and can join again with a fresh token.
    const revert = new Revert();
    try {
      await this.#become(revert, name, serverAddress, clusterAddress, reply, req, phase);
      revert.success();
    } catch (e) {
      self.log.warn("Joining the cluster failed: undoing what was done", { err: errorMessage(e) });
      await revert.fail((what, err) => self.log.error(`Could not ${what} after a failed join`, { err }));
      throw e;
    }
    self.events.lifecycle("cluster-member-added", `/1.0/cluster/members/${name}`);
    // How long each step took: what a slow join spent its time on.
    self.log.info("Joined the cluster", {
      name,
      address: serverAddress,
      raftId: reply.raftId,
      ...phase.took,
    });
    // Ask the leader to give us a database role now rather than at its next heartbeat.
    void this.#p.forwarding.leaderRequest(MEMBER_CALLS.rebalance, {}).catch(() => {});
  }

  /**
   * Becomes the member the leader accepted: the cluster certificate, our address, an empty
   * database that the leader fills, and our part of the cluster's pools. Each step adds its
   * undo first, since most of them can half-happen.
   */
  async #become(
    revert: Revert,
    name: string,
    serverAddress: string,
    clusterAddress: string,
    reply: AcceptReply,
    req: ClusterPut,
    phase: Phases,
  ): Promise<void> {
    const self = this.#self;
    const tls: KeyPair = { cert: reply.clusterCert, key: reply.clusterKey };
    revert.add(
      "leave the cluster that accepted this member",
      () => this.#unaccept(clusterAddress, tls, name),
    );
    revert.add("remove the cluster certificate", () => self.forgetTls());
    // Until this member's database has them, it knows the members by the leader's word.
    self.setJoining(reply.members ?? []);
    revert.add("forget the members the leader named", () => self.setJoining(null));
    await self.writeTls(tls);
    const before = {
      "cluster.https_address": self.local.get("cluster.https_address"),
      "core.https_address": self.local.get("core.https_address"),
    };
    const updates: Record<string, string> = { "cluster.https_address": serverAddress };
    if (before["core.https_address"] === "") updates["core.https_address"] = serverAddress;
    let wiped = false;
    // Runs after the database undo below: the standalone database starts on the old addresses.
    revert.add("restore this member's addresses and database", async () => {
      self.local.update(before);
      if (wiped) {
        await self.gateway.start(null);
        await this.#p.onStandalone();
      }
      await this.#p.certificate.served();
    });
    self.local.update(updates);
    await self.setTls(tls);
    await self.gateway.setTls(tls);
    revert.add("stop the cluster's database on this member", async () => {
      await self.gateway.stop(false);
      self.gateway.storage.reset();
      self.fsm.reset();
      self.local.replaceRaftNodes([]);
      wiped = true;
    });
    self.gateway.joinAs(reply.raftId, reply.raftNodes);
    this.#p.heartbeats.restart();
    phase.mark("setupMs");
    await this.#p.certificate.served();
    phase.mark("listenMs");
    // Wait until our own row has reached us: then this member serves the cluster's state.
    const deadline = Date.now() + 60_000;
    while (!self.stale((tx) => listNodes(tx).some((n) => n.address === serverAddress), false)) {
      if (Date.now() > deadline) {
        throw unavailable("Joined, but the cluster database did not reach this member");
      }
      // Often: the whole join waits on it, and the query is a read of the local replica.
      await sleep(5);
    }
    self.setJoining(null);
    phase.mark("catchUpMs");
    await this.#createLocalParts(revert, name, (req.member_config ?? []) as MemberConfigKey[]);
    phase.mark("localMs");
  }

  /** Undoes the leader's accept: this member's row and Raft seat go (forced: it is not there). */
  async #unaccept(clusterAddress: string, tls: KeyPair, name: string): Promise<void> {
    const c = new Client({
      kind: "https",
      url: `https://${clusterAddress}`,
      serverCert: tls.cert,
      // Accepted, this member is known by its own certificate (the cluster's opens nothing).
      clientCert: this.#p.serverCert(),
    }, {
      userAgent: "lxd-cluster-join",
    });
    try {
      await callMember(c, MEMBER_CALLS.removeMember, { name, force: true }, AbortSignal.timeout(30_000));
    } finally {
      c.close();
    }
  }

  /**
   * A new member's part of each of the cluster's pools (its directory and its own keys) and
   * networks (its bridge, NAT and dnsmasq, with its own keys), as LXD's joiner creates them.
   */
  async #createLocalParts(revert: Revert, member: string, answers: MemberConfigKey[]): Promise<void> {
    const self = this.#self;
    const own = (entity: MemberConfigKey["entity"], name: string) =>
      Object.fromEntries(
        answers.filter((a) => a.entity === entity && a.name === name && a.value !== "").map((
          a,
        ) => [a.key, a.value]),
      );
    for (const p of await self.warm((tx) => listPools(tx, null), [])) {
      if (p.status !== "Created") continue;
      const mine = own("storage-pool", p.name);
      const pool = openPool(
        { name: p.name, driver: p.driver, config: { ...p.config, ...mine } },
        `${self.dir}/storage-pools`,
      );
      // Only empty directories go: a source that held something keeps it.
      revert.add(`remove the directory of pool "${p.name}"`, () => pool.delete());
      await pool.create();
      await self.db.run(addPoolMember, { pool: p.name, member, config: { ...mine, ...pool.ownConfig() } });
    }
    const nm = this.#p.networks;
    if (!nm) return;
    for (const n of await self.warm((tx) => listNetworks(tx, null), [])) {
      if (n.status !== "Created") continue;
      const mine = own("network", n.name);
      revert.add(`take down network "${n.name}"`, () => nm.delete(n.name));
      await nm.start({ name: n.name, config: { ...n.config, ...mine } });
      await self.db.run(addNetworkMember, { name: n.name, member, config: mine });
    }
  }
}
