import type { ConfChange, ConfState } from "../raft/mod.ts";
import { Client } from "../client/mod.ts";
import {
  GLOBAL_SCHEMA_VERSION,
  type GlobalDB,
  type GlobalFsm,
  globalValue,
  listNodes,
  type LocalDB,
  lookupTx,
  nodeNameAt,
  RAFT_ROLE,
  type RaftNode,
  readGlobalConfig,
  type ReadTx,
} from "../db/mod.ts";
import type { EventHub } from "../events/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { Operations } from "../operations/mod.ts";
import { fingerprint, generateKeyPair, type KeyPair, readKeyPair, writeKeyPair } from "../tls/mod.ts";
import {
  badRequest,
  errorMessage,
  errorStatus,
  forbidden,
  notFound,
  parseExpiry,
  sleep,
  StatusError,
  type TimerId,
  unavailable,
} from "../util/mod.ts";
import type { JoinToken } from "../wire/mod.ts";
import { encodeToken, randomSecret, secretsEqual } from "../wire/tokens.ts";
import { MemberClients } from "./connect.ts";
import { type ForwardedResult, type ForwardedTx, ForwardQueue } from "./forwarding.ts";
import { Gateway } from "./gateway.ts";
import { type Heartbeat, LivenessTable } from "./liveness.ts";
import {
  acceptNode,
  bootstrapNode,
  checkMemberName,
  type ClusterMember,
  type DbRoleName,
  deleteNode,
  type JoinRequest,
  memberJson,
} from "./members.ts";
import { type DbRole, nextRoleChange, type RoleInput } from "./roles.ts";
import { addPoolMember, checkJoinerPools, clusterPools, type MemberConfigKey } from "./member_config.ts";
import { DirPool } from "../storage/mod.ts";

/** What the leader answers a joiner it accepted. */
export interface AcceptReply {
  raftId: number;
  raftNodes: RaftNode[];
  clusterCert: string;
  clusterKey: string;
}

/** PUT /1.0/cluster's body (LXD's ClusterPut). */
export interface ClusterPut {
  server_name?: string;
  enabled?: boolean;
  cluster_address?: string;
  cluster_certificate?: string;
  server_address?: string;
  cluster_token?: string;
  cluster_password?: string;
  member_config?: { entity: string; name: string; key: string; value: string }[];
}

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
}

/**
 * Whether a request that failed certainly did not run on the leader, so that sending it again
 * cannot apply it twice: only an explicit refusal by a member that does not lead. A connection
 * error is no proof: a request delivered on a kept-alive connection to a leader that then died
 * can come back as "connection refused" once the client library tries again, after the leader
 * had committed it (the replication test caught an increment applied twice that way).
 */
function neverRan(e: unknown): boolean {
  return e instanceof StatusError && e.status === 503 &&
    /Not the database leader|No database leader|Leadership changed before the change was committed/.test(
      e.message,
    );
}

/** How long a follower waits for a leader before a write fails. */
const LEADER_WAIT_MS = 10_000;

/**
 * This member's part in the cluster (LXD's lxd/cluster): bootstrap, join and accept, join tokens,
 * forwarding writes to the database leader, heartbeats and the liveness they give, and the
 * leader's role rebalancing.
 */
export class Cluster {
  #o: ClusterOptions;
  #tls: KeyPair | null = null;
  #tlsFingerprint = "";
  #clients: MemberClients;
  #forwards: ForwardQueue;
  #nameCache: { version: number; address: string; name: string } | null = null;
  #live = new LivenessTable();
  #heartbeatTimer: TimerId | undefined;
  #heartbeatsInFlight = new Set<string>();
  #rebalancing = false;
  #stopped = false;
  #wasLeader = false;

  constructor(o: ClusterOptions) {
    this.#o = o;
    this.#clients = new MemberClients(() => this.#tls);
    this.#forwards = new ForwardQueue({
      send: async (txs) =>
        (await this.#leaderRequest<{ results: ForwardedResult[] }>(
          "POST",
          "/internal/db/transactions",
          { transactions: txs },
          async () => ({ results: await this.executeForwarded(txs) }),
        )).results,
      neverRan,
      retryForMs: LEADER_WAIT_MS,
      leader: () => String(this.#o.gateway.leader),
    });
  }

  /** Reads local state; before the schema exists (a new member) there is nothing to read. */
  #stale<R>(fn: (tx: ReadTx) => R, fallback: R): R {
    try {
      return this.#o.db.readStale(fn);
    } catch {
      return fallback;
    }
  }

  get gateway(): Gateway {
    return this.#o.gateway;
  }

  /** Loads the cluster certificate (if clustered) and starts Raft, forwarding and heartbeats. */
  async start(): Promise<void> {
    this.#tls = await readKeyPair(this.#o.dir, "cluster");
    if (this.#tls) this.#tlsFingerprint = await fingerprint(this.#tls.cert);
    this.#o.db.setForwarder((name, args) => this.#forwards.forward({ name, args }));
    this.#o.gateway.onLeaderChange = () => this.#leaderChanged();
    await this.#o.gateway.start(this.#tls);
    this.#scheduleHeartbeat();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#heartbeatTimer);
    this.#clients.reset();
  }

  /** Whether this member is part of a cluster (it has the cluster certificate and an address). */
  clustered(): boolean {
    return this.#tls !== null && this.#o.local.get("cluster.https_address") !== "";
  }

  /** The cluster certificate, once clustered. */
  get tls(): KeyPair | null {
    return this.#tls;
  }

  get fingerprint(): string {
    return this.#tlsFingerprint;
  }

  /** This member's address on the cluster network. */
  address(): string {
    return this.#o.local.get("cluster.https_address");
  }

  /** This member's name (from its row in the global database), "none" standalone. */
  name(): string {
    if (!this.clustered()) return "none";
    const address = this.address();
    const version = this.#o.fsm.version;
    // Every event and operation names its member: ask the database only after it changed.
    const c = this.#nameCache;
    if (c?.version === version && c.address === address) return c.name;
    const name = this.#stale((tx) => nodeNameAt(tx, address), undefined) ?? "none";
    this.#nameCache = { version, address, name };
    return name;
  }

  // Bootstrap

  /** Turns this standalone server into the first member of a new cluster. */
  async bootstrap(name: string): Promise<void> {
    checkMemberName(name);
    if (this.clustered()) throw badRequest("This server is already clustered");
    let address = this.#o.local.get("cluster.https_address");
    if (address === "") {
      const core = this.#o.local.get("core.https_address");
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
    await writeKeyPair(this.#o.dir, "cluster", tls);
    this.#o.local.update({ "cluster.https_address": address });
    await this.#o.db.run(bootstrapNode, { name, address });
    const self = this.#o.gateway.raftId;
    this.#o.gateway.setRaftNodes([{ id: self, address, role: RAFT_ROLE.voter, name }]);
    await this.#useTls(tls);
    this.#o.events.lifecycle("cluster-enabled", `/1.0/cluster/members/${name}`);
    this.#o.log.info("Clustering enabled", { name, address });
  }

  async #useTls(tls: KeyPair): Promise<void> {
    this.#tls = tls;
    this.#tlsFingerprint = await fingerprint(tls.cert);
    this.#clients.reset();
    await this.#o.gateway.setTls(tls);
    await this.#o.onClusterTls();
  }

  // Join tokens

  /** POST /1.0/cluster/members: a single-use join token for a member to be called name. */
  async issueToken(name: string): Promise<Record<string, unknown>> {
    if (!this.clustered()) throw badRequest("This server is not clustered");
    if (name === "none") throw badRequest('Join token name cannot be "none"');
    checkMemberName(name);
    const nodes = await this.#o.db.read(listNodes);
    if (nodes.some((n) => n.name === name)) {
      throw badRequest(`The cluster already has a member with name: ${name}`);
    }
    // Asking again for a name replaces the older token.
    for (const op of this.#joinTokens()) if (op.metadata?.serverName === name) op.cancel();
    const config = await this.#o.db.read(readGlobalConfig);
    const expiry = parseExpiry(globalValue(config, "cluster.join_token_expiry"));
    const addresses = [this.address(), ...nodes.map((n) => n.address).filter((a) => a !== this.address())];
    const meta = {
      serverName: name,
      secret: randomSecret(),
      fingerprint: this.#tlsFingerprint,
      addresses: addresses.filter((a) => this.#isOnline(a)),
      expiresAt: new Date(Date.now() + expiry).toISOString(),
      kind: "join",
    };
    const op = this.#o.operations.create({
      class: "token",
      description: "Cluster join token",
      metadata: meta,
    });
    this.#o.events.lifecycle("cluster-token-created", `/1.0/operations/${op.id}`);
    return op.toJSON() as unknown as Record<string, unknown>;
  }

  #joinTokens() {
    return this.#o.operations.list("default").filter((op) =>
      op.spec.class === "token" && op.status === "Running" && op.metadata?.kind === "join"
    );
  }

  /**
   * Uses up a join token presented by a joiner (POST /1.0/certificates). The token may have been
   * issued by any member: look here first, then ask the others.
   */
  async redeemJoinToken(token: JoinToken, askOthers = true): Promise<void> {
    for (const op of this.#joinTokens()) {
      const m = op.metadata ?? {};
      if (m.serverName !== token.server_name || typeof m.secret !== "string") continue;
      if (!secretsEqual(m.secret, token.secret)) continue;
      op.cancel();
      if (Date.now() > Date.parse(String(m.expiresAt))) {
        throw new StatusError(500, "Failed during search for join token operation: Token has expired");
      }
      return;
    }
    if (askOthers && this.clustered()) {
      const nodes = this.#o.db.readStale(listNodes).filter((n) => n.address !== this.address());
      for (const n of nodes) {
        try {
          await this.#clients.get(n.address).request("POST", "/internal/cluster/redeem-token", {
            body: token,
            signal: AbortSignal.timeout(5_000),
          });
          return;
        } catch (e) {
          if (e instanceof StatusError && e.status === 500) throw e;
        }
      }
    }
    throw forbidden("No matching cluster join operation found");
  }

  // Join (the joiner's side)

  /**
   * Joins the cluster named by a token or by address + certificate + trust password (PUT
   * /1.0/cluster on the joiner, inside the "Joining cluster" operation). This member's database
   * is replaced by the cluster's.
   */
  async join(req: ClusterPut, token: JoinToken | null): Promise<void> {
    const name = req.server_name ?? "";
    checkMemberName(name);
    if (this.clustered()) throw badRequest("This server is already clustered");
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
    const own = this.#o.serverCert();
    const client = new Client(
      { kind: "https", url: `https://${clusterAddress}`, serverCert: clusterCert, clientCert: own },
      { userAgent: "lxd-cluster-join" },
    );
    let reply: AcceptReply;
    try {
      // 1. Be trusted: our server certificate, vouched for by the token or the trust password.
      try {
        await client.request("POST", "/1.0/certificates", {
          body: {
            type: "server",
            name,
            certificate: own.cert.replace(/-----[A-Z ]+-----|\s/g, ""),
            password: token ? encodeToken(token) : (req.cluster_password ?? ""),
          },
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
      const r = await client.request<AcceptReply>("POST", "/internal/cluster/accept", {
        body: {
          name,
          address: serverAddress,
          arch: Deno.build.arch,
          schema: GLOBAL_SCHEMA_VERSION,
          apiExtensions: this.#o.apiExtensions,
          version: this.#o.version,
          pools: this.#stale(clusterPools, []),
          memberConfig: (req.member_config ?? []) as MemberConfigKey[],
        } satisfies JoinRequest,
      }).catch((e) => {
        throw new StatusError(
          e instanceof StatusError ? e.status : 500,
          `Failed joining cluster: Failed request to add member: ${errorMessage(e)}`,
        );
      });
      reply = r.metadata;
    } finally {
      client.close();
    }
    // 3. Become that member: the cluster certificate, our address, and an empty database that
    // the leader fills.
    const tls: KeyPair = { cert: reply.clusterCert, key: reply.clusterKey };
    await writeKeyPair(this.#o.dir, "cluster", tls);
    const updates: Record<string, string> = { "cluster.https_address": serverAddress };
    if (this.#o.local.get("core.https_address") === "") updates["core.https_address"] = serverAddress;
    this.#o.local.update(updates);
    this.#tls = tls;
    this.#tlsFingerprint = await fingerprint(tls.cert);
    this.#clients.reset();
    await this.#o.gateway.setTls(tls);
    this.#o.gateway.joinAs(reply.raftId, reply.raftNodes);
    this.#live.restart();
    await this.#o.onClusterTls();
    // 4. Wait until our own row has reached us: then this member serves the cluster's state.
    const deadline = Date.now() + 60_000;
    while (!this.#stale((tx) => listNodes(tx).some((n) => n.address === serverAddress), false)) {
      if (Date.now() > deadline) {
        throw unavailable("Joined, but the cluster database did not reach this member");
      }
      await sleep(20);
    }
    await this.#createLocalPools(name, (req.member_config ?? []) as MemberConfigKey[]);
    this.#o.events.lifecycle("cluster-member-added", `/1.0/cluster/members/${name}`);
    this.#o.log.info("Joined the cluster", { name, address: serverAddress, raftId: reply.raftId });
    // Ask the leader to give us a database role now rather than at its next heartbeat.
    void this.#leaderRequest("POST", "/internal/cluster/rebalance", {}).catch(() => {});
  }

  /** A new member's part of each of the cluster's pools: its directory and its own keys. */
  async #createLocalPools(member: string, answers: MemberConfigKey[]): Promise<void> {
    for (const p of this.#stale(clusterPools, [])) {
      const source = answers.find((a) =>
        a.entity === "storage-pool" && a.name === p.name && a.key === "source"
      )
        ?.value;
      const pool = new DirPool(p.name, `${this.#o.dir}/storage-pools`, source);
      await pool.create();
      await this.#o.db.run(addPoolMember, { pool: p.name, member, config: { source: pool.path } });
    }
  }

  // Accept (the leader's side)

  /** Records a joiner and adds it to Raft as a stand-by (the rebalance promotes it). */
  async accept(req: JoinRequest): Promise<AcceptReply> {
    if (!this.#o.gateway.isLeader()) {
      return await this.#leaderRequest<AcceptReply>(
        "POST",
        "/internal/cluster/accept",
        req,
        () => this.accept(req),
      );
    }
    const tls = this.#tls;
    if (!tls) throw badRequest("This server is not clustered");
    checkMemberName(req.name);
    await this.#o.db.read((tx) =>
      checkJoinerPools(tx, { pools: req.pools ?? [], memberConfig: req.memberConfig ?? [] })
    );
    const { pools: _p, memberConfig: _m, ...row } = req;
    const id = await this.#o.db.run(acceptNode, { ...row, expectApi: this.#o.apiExtensions });
    await this.#o.gateway.changeMembership({ type: "add-standby", id });
    const nodes = this.#raftNodes();
    this.#live.seen(req.address);
    return { raftId: id, raftNodes: nodes, clusterCert: tls.cert, clusterKey: tls.key };
  }

  /** raft_nodes as they should read now: the configuration with addresses and names from the DB. */
  #raftNodes(): RaftNode[] {
    const conf = this.#o.gateway.conf();
    const rows = this.#o.db.readStale(listNodes);
    const role = (id: number) =>
      conf.voters.includes(id)
        ? RAFT_ROLE.voter
        : conf.standbys.includes(id)
        ? RAFT_ROLE.standby
        : RAFT_ROLE.spare;
    return [...conf.voters, ...conf.standbys, ...conf.spares].sort((a, b) => a - b).map((id) => {
      const r = rows.find((n) => n.id === id);
      return { id, address: r?.address ?? "", role: role(id), name: r?.name ?? "" };
    });
  }

  /** Removes a member: from Raft first, then its row and its trust. */
  async remove(name: string, force: boolean): Promise<void> {
    const path = `/1.0/cluster/members/${encodeURIComponent(name)}${force ? "?force=1" : ""}`;
    if (!this.#o.gateway.isLeader()) {
      await this.#leaderRequest("DELETE", path, undefined, () => this.remove(name, force));
      return;
    }
    const nodes = await this.#o.db.read(listNodes);
    const n = nodes.find((x) => x.name === name);
    if (!n) throw notFound("Cluster member not found");
    if (nodes.length === 1) throw badRequest("Member is the only member in the cluster");
    if (n.address === this.address()) {
      const ok = await this.#o.gateway.transferLeadership();
      if (!ok) {
        throw unavailable("Could not hand over database leadership before removing this member: retry");
      }
      await this.#leaderRequest("DELETE", path);
      return;
    }
    const conf = this.#o.gateway.conf();
    if ([...conf.voters, ...conf.standbys, ...conf.spares].includes(n.id)) {
      await this.#o.gateway.changeMembership({ type: "remove", id: n.id });
    }
    await this.#o.db.run(deleteNode, { name });
    if (!force) {
      // Tell it to become a standalone server again (best effort: it may be gone).
      await this.#clients.get(n.address).request("POST", "/internal/cluster/left", {
        body: {},
        signal: AbortSignal.timeout(5_000),
      }).catch((e) => this.#o.log.warn("Removed member did not answer", { name, err: errorMessage(e) }));
    }
    this.#o.events.lifecycle("cluster-member-removed", `/1.0/cluster/members/${name}`);
  }

  /**
   * This member was removed from its cluster (POST /internal/cluster/left from the leader): it
   * becomes a standalone server again, with a fresh database of its own, as LXD does.
   */
  async leave(): Promise<void> {
    if (!this.clustered()) return;
    this.#o.log.info("Removed from the cluster: becoming a standalone server");
    await this.#o.gateway.stop(false);
    this.#o.gateway.storage.reset();
    this.#o.fsm.reset();
    this.#o.local.replaceRaftNodes([]);
    this.#o.local.update({ "cluster.https_address": "" });
    for (const f of ["cluster.crt", "cluster.key"]) await Deno.remove(`${this.#o.dir}/${f}`).catch(() => {});
    this.#tls = null;
    this.#tlsFingerprint = "";
    this.#clients.reset();
    await this.#o.gateway.start(null);
    await this.#o.onStandalone();
    await this.#o.onClusterTls();
    this.#o.events.lifecycle("cluster-member-removed", "/1.0/cluster");
  }

  /**
   * Before a voter stops gracefully: hand leadership over if it leads, then ask the leader to
   * give its vote to a stand-by, so the cluster keeps its full number of voters while it is away.
   */
  async handOver(): Promise<void> {
    if (!this.clustered()) return;
    const g = this.#o.gateway;
    const self = g.raftId;
    const conf = g.conf();
    if (conf.voters.length + conf.standbys.length + conf.spares.length < 2) return;
    if (g.isLeader()) {
      if (conf.voters.length < 2) return;
      const ok = await g.transferLeadership(2_000);
      this.#o.log.info("Handed over database leadership before stopping", { ok });
      if (!ok) return;
    }
    try {
      await this.#leaderRequest("POST", "/internal/cluster/handover", { id: self });
      this.#o.log.info("Handed over the database role before stopping");
    } catch (e) {
      this.#o.log.warn("Could not hand over the database role", { err: errorMessage(e) });
    }
  }

  /** Leader side of a hand-over: a caught-up online stand-by (if any) takes the leaving voter's seat. */
  async acceptHandOver(id: number): Promise<void> {
    const g = this.#o.gateway;
    if (!g.isLeader()) throw unavailable("Not the database leader");
    const conf = g.conf();
    const leaving = this.#stale(listNodes, []).find((n) => n.id === id);
    if (leaving) this.#live.stopping(leaving.address);
    if (!conf.voters.includes(id)) return;
    const status = g.status();
    const thresholdMs = this.#thresholdMs();
    const nodes = this.#stale(listNodes, []);
    const standby = conf.standbys.map((sid) => nodes.find((n) => n.id === sid)).find((n) =>
      n !== undefined &&
      this.#live.of(n.address, { self: false, leading: true, thresholdMs }).online &&
      (status?.progress?.[n.id]?.match ?? 0) > 0
    );
    // Without a stand-by to take it, the seat stays: shedding a voter would cost fault tolerance.
    if (!standby) return;
    // Keep the leaving member's seat filled: promote first, then demote, one change at a time.
    this.#rebalancing = true;
    try {
      await g.changeMembership({ type: "add-voter", id: standby.id });
      await g.changeMembership({ type: "add-spare", id });
    } finally {
      this.#rebalancing = false;
    }
  }

  /**
   * Replaces the cluster certificate on every member at once (PUT /1.0/cluster/certificate).
   * It needs every member: refused while one is offline, and undone on the members already
   * switched when one fails, so the cluster never ends up with two certificates.
   */
  async updateCertificate(cert: string, key: string): Promise<void> {
    if (!this.clustered() || !this.#tls) throw badRequest("This server is not clustered");
    const members = await this.listMembers();
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
    const old = this.#tls;
    const next: KeyPair = { cert, key };
    const others = this.#stale(listNodes, []).filter((n) => n.address !== this.address());
    const done: string[] = [];
    try {
      for (const n of others) {
        await this.#clients.get(n.address).request("PUT", "/internal/cluster/certificate", {
          body: next,
          signal: AbortSignal.timeout(10_000),
        });
        done.push(n.address);
      }
    } catch (e) {
      // Those already switched serve the new certificate now: reach them with it to switch back.
      for (const address of done) {
        const c = new Client({
          kind: "https",
          url: `https://${address}`,
          serverCert: cert,
          clientCert: next,
        });
        await c.request("PUT", "/internal/cluster/certificate", {
          body: old,
          signal: AbortSignal.timeout(10_000),
        })
          .catch((err) =>
            this.#o.log.error("Could not restore the cluster certificate", {
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
    await this.installCertificate(next);
  }

  /** This member's part of a certificate update: write it and serve it, for Raft too. */
  async installCertificate(tls: KeyPair): Promise<void> {
    await writeKeyPair(this.#o.dir, "cluster", tls);
    await this.#useTls(tls);
    this.#o.events.lifecycle("cluster-certificate-updated", "/1.0/cluster/certificate");
  }

  // Forwarding

  /**
   * Sends a request to the database leader, waiting (bounded) for one to be elected; when this
   * member turns out to lead, `onSelf` answers instead.
   */
  async #leaderRequest<T>(
    method: string,
    path: string,
    body?: unknown,
    onSelf?: () => Promise<T>,
  ): Promise<T> {
    const deadline = Date.now() + LEADER_WAIT_MS;
    let last: unknown = null;
    for (;;) {
      const g = this.#o.gateway;
      if (g.isLeader()) {
        if (onSelf) return await onSelf();
        throw unavailable("This member is the database leader");
      }
      const address = g.leader !== 0 && g.leader !== g.raftId ? g.leaderAddress() : null;
      if (address) {
        try {
          return (await this.#clients.get(address).request<T>(method, path, {
            body,
            signal: AbortSignal.timeout(30_000),
          })).metadata;
        } catch (e) {
          // A leader that refused before running anything, or that could not be reached at all:
          // wait for the next one. After a request may have run there (a reset connection, a
          // timeout), sending it again could apply it twice: the caller must be told instead.
          if (!neverRan(e)) {
            if (e instanceof StatusError && e.status !== 503) throw e;
            throw unavailable(
              `The database leader did not answer, so the change may or may not have been made: check before retrying (${
                errorMessage(e)
              })`,
            );
          }
          last = e;
        }
      }
      if (Date.now() > deadline) {
        throw unavailable(
          `No database leader answered within ${LEADER_WAIT_MS / 1000} s: the cluster may have lost quorum${
            last ? ` (${errorMessage(last)})` : ""
          }`,
        );
      }
      await sleep(address ? 50 : 10);
    }
  }

  /** Leader side of forwarding (POST /internal/db/transactions): one result per transaction. */
  executeForwarded(txs: ForwardedTx[]): Promise<ForwardedResult[]> {
    if (!this.#o.gateway.isLeader()) throw unavailable("Not the database leader");
    // Queued together, so they share the leader's next entry.
    return Promise.all(txs.map(async (t): Promise<ForwardedResult> => {
      const def = lookupTx(t.name);
      if (!def) {
        return {
          ok: false,
          status: 400,
          error: `Unknown transaction "${t.name}": members run different versions`,
        };
      }
      try {
        return { ok: true, ...await this.#o.db.execute(def, t.args) };
      } catch (e) {
        return { ok: false, status: errorStatus(e), error: errorMessage(e) };
      }
    }));
  }

  // Heartbeats and liveness

  #thresholdMs(): number {
    const config = this.#stale(readGlobalConfig, {});
    return Number(globalValue(config, "cluster.offline_threshold")) * 1000;
  }

  /** Heartbeats go out often enough to tell "offline" within a second of the threshold. */
  #intervalMs(): number {
    return Math.min(1_000, Math.max(200, this.#thresholdMs() / 20));
  }

  #scheduleHeartbeat(): void {
    if (this.#stopped) return;
    this.#heartbeatTimer = setTimeout(() => this.#heartbeatRound(), this.#intervalMs());
  }

  #leaderChanged(): void {
    const leading = this.#o.gateway.isLeader();
    if (leading && !this.#wasLeader) {
      this.#live.resetLeader();
      this.#live.track(this.#stale(listNodes, []).map((n) => n.address));
    }
    this.#wasLeader = leading;
    // Transactions waiting behind requests to the old leader go to the new one now.
    queueMicrotask(() => this.#forwards.leaderChanged());
  }

  #heartbeatRound(): void {
    if (this.#stopped) return;
    try {
      if (this.clustered() && this.#o.gateway.isLeader()) {
        const nodes = this.#o.db.readStale(listNodes);
        const self = this.address();
        this.#live.track(nodes.map((n) => n.address));
        this.#live.seen(self);
        const hb = this.#live.heartbeat(
          this.name(),
          this.#o.gateway.term,
          nodes.map((n) => ({ name: n.name, address: n.address })),
        );
        const timeout = Math.max(500, this.#intervalMs() * 2);
        // Each member on its own: one that hangs must not hold back the others' heartbeats (it
        // just gets no new one until its last is answered or times out).
        for (const n of nodes) {
          if (n.address === self || this.#heartbeatsInFlight.has(n.address)) continue;
          this.#heartbeatsInFlight.add(n.address);
          this.#clients.get(n.address).request("PUT", "/internal/heartbeat", {
            body: hb,
            signal: AbortSignal.timeout(timeout),
          }).then(
            () => this.#live.seen(n.address),
            () => {/* silence is what the table measures */},
          ).finally(() => this.#heartbeatsInFlight.delete(n.address));
        }
        this.#o.gateway.refreshRaftNodes();
        void this.rebalance();
      }
    } catch (e) {
      this.#o.log.warn("Heartbeat round failed", { err: errorMessage(e) });
    } finally {
      this.#scheduleHeartbeat();
    }
  }

  /** Follower side: PUT /internal/heartbeat. */
  receiveHeartbeat(hb: Heartbeat): void {
    this.#live.received(hb);
    this.#o.gateway.refreshRaftNodes();
  }

  #isOnline(address: string): boolean {
    return this.#live.of(address, {
      self: address === this.address(),
      leading: this.#o.gateway.isLeader(),
      thresholdMs: this.#thresholdMs(),
    }).online;
  }

  #dbRole(id: number, conf: ConfState): DbRoleName {
    if (id === this.#o.gateway.leader) return "database-leader";
    if (conf.voters.includes(id)) return "database-voter";
    if (conf.standbys.includes(id)) return "database-standby";
    return null;
  }

  /** Every member as GET /1.0/cluster/members?recursion=1 shows it. */
  async listMembers(): Promise<ClusterMember[]> {
    if (!this.clustered()) throw new StatusError(500, "Server is not clustered");
    // Current as the leader sees it; when no leader can confirm (quorum lost), this member's
    // own copy is still the best answer for a user trying to find out what is wrong.
    const nodes = await this.#o.db.read(listNodes).catch(() => this.#o.db.readStale(listNodes));
    const conf = this.#o.gateway.conf();
    const thresholdMs = this.#thresholdMs();
    const leading = this.#o.gateway.isLeader();
    return nodes.map((n) => {
      const role = this.#dbRole(n.id, conf);
      const live = this.#live.of(n.address, { self: n.address === this.address(), leading, thresholdMs });
      const m = memberJson(n, role, live);
      // LXD 5.0 names a voter "database"; the leader also carries it.
      m.roles = m.roles.flatMap((r) =>
        r === "database-voter"
          ? ["database"]
          : r === "database-leader"
          ? ["database-leader", "database"]
          : [r]
      );
      return m;
    });
  }

  async member(name: string): Promise<ClusterMember> {
    const m = (await this.listMembers()).find((x) => x.server_name === name);
    if (!m) throw notFound("Cluster member not found");
    return m;
  }

  // Roles

  /** One step of role rebalancing on the leader (LXD's rebalanceMemberRoles). */
  async rebalance(): Promise<void> {
    if (this.#rebalancing || !this.#o.gateway.isLeader() || !this.clustered()) return;
    this.#rebalancing = true;
    try {
      for (let step = 0; step < 8; step++) {
        const conf = this.#o.gateway.conf();
        const nodes = this.#o.db.readStale(listNodes);
        const status = this.#o.gateway.status();
        const last = status?.commit ?? 0;
        const thresholdMs = this.#thresholdMs();
        const inputs: RoleInput[] = nodes.map((n) => {
          const role: DbRole = conf.voters.includes(n.id)
            ? "voter"
            : conf.standbys.includes(n.id)
            ? "standby"
            : "spare";
          const match = n.id === this.#o.gateway.raftId ? last : status?.progress?.[n.id]?.match ?? 0;
          const self = n.address === this.address();
          return {
            id: n.id,
            role,
            online: this.#live.of(n.address, { self, leading: true, thresholdMs }).online,
            caughtUp: role === "spare" || (match > 0 && last - match <= 64),
            failureDomain: n.failure_domain,
          };
        }).filter((m) => [...conf.voters, ...conf.standbys, ...conf.spares].includes(m.id));
        const config = this.#o.db.readStale(readGlobalConfig);
        const change = nextRoleChange(inputs, this.#o.gateway.raftId, {
          maxVoters: Number(globalValue(config, "cluster.max_voters")),
          maxStandby: Number(globalValue(config, "cluster.max_standby")),
        });
        if (!change) return;
        const cc: ConfChange = change.role === "voter"
          ? { type: "add-voter", id: change.id }
          : change.role === "standby"
          ? { type: "add-standby", id: change.id }
          : { type: "add-spare", id: change.id };
        this.#o.log.info("Changing database role", {
          id: change.id,
          role: change.role,
          reason: change.reason,
        });
        await this.#o.gateway.changeMembership(cc);
      }
    } catch (e) {
      this.#o.log.warn("Role rebalance failed", { err: errorMessage(e) });
    } finally {
      this.#rebalancing = false;
    }
  }
}
