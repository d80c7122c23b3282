import { roleOf } from "../raft/mod.ts";
import {
  globalValue,
  listNodes,
  memberCertificates,
  memberVolumesProblem,
  RAFT_ROLE,
  type RaftNode,
  readGlobalConfig,
} from "../db/mod.ts";
import { fingerprint, generateKeyPair } from "../tls/mod.ts";
import { badRequest, errorMessage, notFound, unavailable } from "../util/mod.ts";
import type { AcceptReply, JoinRequest } from "../wire/mod.ts";
import type { ClusterCertificate } from "./certificate.ts";
import type { Forwarding } from "./forwarding.ts";
import type { Heartbeats } from "./heartbeat.ts";
import { callMember, MEMBER_CALLS } from "./member_calls.ts";
import { checkJoinerPools } from "./member_config.ts";
import { acceptNode, bootstrapNode, checkMemberName, deleteNode } from "./members.ts";
import { joinerRole } from "./roles.ts";
import type { Self } from "./self.ts";
import { schemaVersion } from "./upgrade.ts";

/** What membership changes need besides the member itself. */
export interface MembershipParts {
  forwarding: Forwarding;
  heartbeats: Heartbeats;
  certificate: ClusterCertificate;
  /** Brings a fresh standalone database up to date (schema, the "none" member). */
  onStandalone: () => Promise<void>;
}

/**
 * Who is a member (LXD's membership.go), the cluster's side: bootstrap a cluster, accept a
 * joiner on the leader, remove a member, and leave when removed. The joiner's side is join.ts.
 */
export class Membership {
  #self: Self;
  #p: MembershipParts;

  constructor(self: Self, parts: MembershipParts) {
    this.#self = self;
    this.#p = parts;
  }

  /** Turns this standalone server into the first member of a new cluster. */
  async bootstrap(name: string): Promise<void> {
    const self = this.#self;
    checkMemberName(name);
    if (self.clustered()) throw badRequest("This server is already clustered");
    let address = self.local.get("cluster.https_address");
    if (address === "") {
      const core = self.local.get("core.https_address");
      if (core === "" || /^(\[::\]|0\.0\.0\.0|::)?:\d+$/.test(core) || /^:\d+$/.test(core)) {
        throw badRequest(
          `Failed configuring cluster: Cannot use wildcard core.https_address "${address}" for cluster.https_address. Please specify a new cluster.https_address or core.https_address`,
        );
      }
      address = core;
    }
    const host = address.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
    const tls = await generateKeyPair({
      cn: `root@${name}`,
      kind: "server",
      dns: [name, "localhost"],
      ips: [host],
    });
    await self.writeTls(tls);
    self.local.update({ "cluster.https_address": address });
    const own = self.serverCert();
    await self.db.run(bootstrapNode, {
      name,
      address,
      cert: { fingerprint: await fingerprint(own.cert), pem: own.cert },
    });
    const id = self.gateway.raftId;
    self.gateway.setRaftNodes([{ id, address, role: RAFT_ROLE.voter, name }]);
    await this.#p.certificate.use(tls);
    self.events.lifecycle("cluster-enabled", `/1.0/cluster/members/${name}`);
    self.log.info("Clustering enabled", { name, address });
  }

  /**
   * Records a joiner and adds it to Raft as a stand-by (the rebalance promotes it), or as a spare
   * once the cluster has its voters and stand-bys. Either way it gets the log from now on.
   */
  async accept(req: JoinRequest): Promise<AcceptReply> {
    const self = this.#self;
    if (!self.gateway.isLeader()) {
      return await this.#p.forwarding.leaderRequest(MEMBER_CALLS.accept, req, () => this.accept(req));
    }
    const tls = self.tls;
    if (!tls) throw badRequest("This server is not clustered");
    checkMemberName(req.name);
    await self.db.read((tx) =>
      checkJoinerPools(tx, { pools: req.pools ?? [], memberConfig: req.memberConfig ?? [] })
    );
    // The joiner's secret stays out of the log: it was checked where the joiner came in.
    const { pools: _p, memberConfig: _m, secret: _s, ...row } = req;
    const id = await self.db.run(acceptNode, {
      ...row,
      expectApi: self.apiExtensions,
      expectSchema: schemaVersion(),
    });
    const conf = self.gateway.conf();
    const config = self.db.readStale(readGlobalConfig);
    const role = joinerRole(
      {
        voters: conf.voters.length,
        standbys: conf.standbys.length,
        members: conf.voters.length + conf.standbys.length + conf.spares.length,
      },
      {
        maxVoters: Number(globalValue(config, "cluster.max_voters")),
        maxStandby: Number(globalValue(config, "cluster.max_standby")),
      },
    );
    await self.gateway.changeMembership({ type: role === "spare" ? "add-spare" : "add-standby", id });
    const nodes = this.#raftNodes();
    this.#p.heartbeats.seen(req.address);
    const members = await self.db.read(memberCertificates);
    return { raftId: id, raftNodes: nodes, clusterCert: tls.cert, clusterKey: tls.key, members };
  }

  /** raft_nodes as they should read now: the configuration with addresses and names from the DB. */
  #raftNodes(): RaftNode[] {
    const conf = this.#self.gateway.conf();
    const rows = this.#self.db.readStale(listNodes);
    return [...conf.voters, ...conf.standbys, ...conf.spares].sort((a, b) => a - b).map((id) => {
      const r = rows.find((n) => n.id === id);
      return {
        id,
        address: r?.address ?? "",
        role: RAFT_ROLE[roleOf(conf, id) ?? "spare"],
        name: r?.name ?? "",
      };
    });
  }

  /** Removes a member: from Raft first, then its row and its trust. */
  async remove(name: string, force: boolean): Promise<void> {
    const self = this.#self;
    const g = self.gateway;
    const onLeader = { name, force };
    if (!g.isLeader()) {
      await this.#p.forwarding.leaderRequest(
        MEMBER_CALLS.removeMember,
        onLeader,
        () => this.remove(name, force),
      );
      return;
    }
    const nodes = await self.db.read(listNodes);
    const n = nodes.find((x) => x.name === name);
    if (!n) throw notFound("Cluster member not found");
    if (nodes.length === 1) throw badRequest("Member is the only member in the cluster");
    // A member's volumes live on it alone: removing it loses them, so only --force may.
    const holds = force ? null : await self.db.read((tx) => memberVolumesProblem(tx, name));
    if (holds) throw badRequest(holds);
    if (n.address === self.address()) {
      const ok = await g.transferLeadership();
      if (!ok) {
        throw unavailable("Could not hand over database leadership before removing this member: retry");
      }
      await this.#p.forwarding.leaderRequest(MEMBER_CALLS.removeMember, onLeader);
      return;
    }
    const conf = g.conf();
    if ([...conf.voters, ...conf.standbys, ...conf.spares].includes(n.id)) {
      await g.changeMembership({ type: "remove", id: n.id });
    }
    if (!force) {
      // Tell it to become a standalone server again (best effort: it may be gone). Before its row
      // goes: out of the configuration it holds no replica any more, and must ask this leader
      // whether the caller is a member, which answers only a member (its row) while it is one.
      await callMember(self.clients.get(n.address), MEMBER_CALLS.left, {}, AbortSignal.timeout(5_000))
        .catch((e) => self.log.warn("Removed member did not answer", { name, err: errorMessage(e) }));
    }
    await self.db.run(deleteNode, { name });
    self.events.lifecycle("cluster-member-removed", `/1.0/cluster/members/${name}`);
  }

  /**
   * This member was removed from its cluster (POST /internal/cluster/left from the leader): it
   * becomes a standalone server again, with a fresh database of its own, as LXD does.
   */
  async leave(): Promise<void> {
    const self = this.#self;
    if (!self.clustered()) return;
    self.log.info("Removed from the cluster: becoming a standalone server");
    await self.gateway.stop(false);
    self.gateway.storage.reset();
    self.fsm.reset();
    self.local.replaceRaftNodes([]);
    self.local.update({ "cluster.https_address": "" });
    await self.forgetTls();
    await self.gateway.start(null);
    await this.#p.onStandalone();
    await this.#p.certificate.served();
    self.events.lifecycle("cluster-member-removed", "/1.0/cluster");
  }
}
