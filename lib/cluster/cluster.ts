import { OfflineWarnings } from "./offline_warnings.ts";
import { MemberRouting } from "./routing.ts";
import type { GlobalDB, GlobalFsm, LocalDB } from "../db/mod.ts";
import type { EventHub } from "../events/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { NetworkManager } from "../network/mod.ts";
import type { Operations } from "../operations/mod.ts";
import type { KeyPair } from "../tls/mod.ts";
import { ClusterCertificate } from "./certificate.ts";
import { Forwarding } from "./forwarding.ts";
import { RemoteReads } from "./remote_reads.ts";
import type { Gateway } from "./gateway.ts";
import { HandOver } from "./handover.ts";
import { Heartbeats } from "./heartbeat.ts";
import { Joiner } from "./join.ts";
import { MemberList } from "./member_list.ts";
import { ClusterMetrics } from "./metrics.ts";
import { Membership } from "./membership.ts";
import { Rebalancer } from "./rebalance.ts";
import { Self } from "./self.ts";
import { JoinTokens } from "./tokens.ts";
import { UpgradeGate } from "./upgrade.ts";

export interface ClusterOptions {
  dir: string;
  version: string;
  apiExtensions: number;
  local: LocalDB;
  fsm: GlobalFsm;
  gateway: Gateway;
  db: GlobalDB;
  log: Logger;
  events: EventHub;
  operations: Operations;
  serverCert: () => KeyPair;
  /** The daemon serves the cluster certificate from now on (restart its HTTPS listeners). */
  onClusterTls: () => Promise<void>;
  /** Brings a fresh standalone database up to date (schema, the "none" member). */
  onStandalone: () => Promise<void>;
  /** This member's bridges (a joiner brings up its part of the cluster's networks). */
  networks?: NetworkManager;
}

/**
 * This member's part in the cluster (LXD's lxd/cluster), one concern per part: `self` (who this
 * member is, its clients to the others), forwarding writes to the leader, heartbeats and
 * liveness, join tokens, membership (bootstrap, accept, remove, leave), the joiner's side of a
 * join, hand-over, the cluster certificate, role rebalancing and the member list. This only
 * builds and wires them; callers use the parts.
 */
export class Cluster {
  readonly self: Self;
  readonly forwarding: Forwarding;
  readonly remoteReads: RemoteReads;
  readonly heartbeats: Heartbeats;
  readonly tokens: JoinTokens;
  readonly members: MemberList;
  readonly certificate: ClusterCertificate;
  readonly rebalancer: Rebalancer;
  readonly membership: Membership;
  readonly joiner: Joiner;
  readonly handOver: HandOver;
  /** Requests for what another member holds go there (routing.ts). */
  readonly routing: MemberRouting;
  /** The rolling-upgrade gate: Blocked while another member runs an older version. */
  readonly upgrade: UpgradeGate;
  readonly metrics: ClusterMetrics;

  constructor(o: ClusterOptions) {
    const self = this.self = new Self(o);
    this.forwarding = new Forwarding(self);
    this.remoteReads = new RemoteReads(self);
    this.heartbeats = new Heartbeats(self);
    this.tokens = new JoinTokens(self, o.operations, this.heartbeats);
    this.members = new MemberList(self, this.heartbeats);
    this.certificate = new ClusterCertificate(self, this.members, o.onClusterTls);
    this.rebalancer = new Rebalancer(self, this.heartbeats);
    const parts = { forwarding: this.forwarding, heartbeats: this.heartbeats, certificate: this.certificate };
    this.membership = new Membership(self, { ...parts, onStandalone: o.onStandalone });
    this.joiner = new Joiner(self, {
      ...parts,
      serverCert: o.serverCert,
      onStandalone: o.onStandalone,
      networks: o.networks,
    });
    this.handOver = new HandOver(self, this.forwarding, this.heartbeats, this.rebalancer);
    this.upgrade = new UpgradeGate(self);
    this.metrics = new ClusterMetrics(self, this.members, o.operations);
    const offline = new OfflineWarnings(self, this.heartbeats);
    this.heartbeats.onRound = () => {
      void this.rebalancer.run();
      offline.run();
    };
    this.routing = new MemberRouting(self, this.heartbeats);
  }

  get gateway(): Gateway {
    return this.self.gateway;
  }

  /** Loads the cluster certificate (if clustered) and starts Raft, forwarding and heartbeats. */
  async start(): Promise<void> {
    await this.self.load();
    this.forwarding.install();
    this.remoteReads.install();
    this.self.gateway.onLeaderChange = () => {
      this.heartbeats.leaderChanged();
      this.forwarding.leaderChanged();
    };
    await this.self.gateway.start(this.self.tls);
    this.heartbeats.start();
  }

  stop(): void {
    this.upgrade.stop();
    this.heartbeats.stop();
    this.forwarding.stop();
    this.routing.close();
    this.self.stop();
  }
}
