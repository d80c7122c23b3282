import { type ConfChange, type ConfState, type Message, roleOf, type Status } from "../raft/mod.ts";
import {
  confOfNodes,
  type Consensus,
  type GlobalFsm,
  type LocalDB,
  RAFT_ROLE,
  type RaftNode,
  type TxOutcome,
} from "../db/mod.ts";
import { Driver } from "../driver/mod.ts";
import type { Logger } from "../log/mod.ts";
import { SqliteStorage } from "../raft_store/mod.ts";
import { decodeBatch, WsTransport } from "../transport/mod.ts";
import { fingerprint, type KeyPair } from "../tls/mod.ts";
import { StatusError, unavailable } from "../util/mod.ts";
import { hasSpace, isDiskFull } from "./disk_space.ts";

/** A Raft frame that does not come from the member it claims (gateway.receiveFrom). */
export class ForgedFrame extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ForgedFrame";
  }
}

/** Raft timing: ticks of 100 ms, elections after 0.5-1 s without a leader. */
export interface RaftTiming {
  tickMs: number;
  electionTick: number;
  heartbeatTick: number;
  snapshotEvery: number;
  keepEntries: number;
}

const DEFAULT_TIMING: RaftTiming = {
  tickMs: 100,
  electionTick: 5,
  heartbeatTick: 1,
  snapshotEvery: 2000,
  keepEntries: 500,
};

/** Reads timing overrides from the environment (tests use small snapshot intervals). */
function timingFromEnv(): Partial<RaftTiming> {
  const out: Partial<RaftTiming> = {};
  const every = Deno.env.get("SHOAL_RAFT_SNAPSHOT_EVERY");
  if (every) out.snapshotEvery = Number(every);
  const keep = Deno.env.get("SHOAL_RAFT_KEEP_ENTRIES");
  if (keep) out.keepEntries = Number(keep);
  return out;
}

function roleCode(conf: ConfState, id: number): number {
  return RAFT_ROLE[roleOf(conf, id) ?? "spare"];
}

/**
 * This member's share of the replicated database (LXD's gateway): the Raft log store, the
 * driver and the transport, started standalone (a one-voter cluster, as LXD runs dqlite even
 * when not clustered) or as a member. Implements the consensus GlobalDB runs on.
 */
export class Gateway implements Consensus {
  #local: LocalDB;
  #fsm: GlobalFsm;
  #log: Logger;
  #storage: SqliteStorage;
  #timing: RaftTiming;
  #driver: Driver<TxOutcome[]> | null = null;
  #transport: WsTransport<Message> | null = null;
  #tls: KeyPair | null = null;
  #pin = "";
  /** Address and name of a member the configuration names, from the global database. */
  #memberOf: (id: number) => { address: string; name: string } | undefined;
  /** The disk under the database is full: Raft is stopped until a probe write fits again. */
  #diskFull: { since: string; cause: string; timer: ReturnType<typeof setInterval> } | null = null;
  #dbDir: string;
  #clientCert: () => KeyPair;
  /** The leader's last heartbeat named this member a spare. */
  #spareByLeader = false;
  onLeaderChange: ((leader: number) => void) | null = null;
  onConfChange: ((conf: ConfState) => void) | null = null;

  constructor(
    o: {
      local: LocalDB;
      fsm: GlobalFsm;
      log: Logger;
      snapshotPath: string;
      memberOf: (id: number) => { address: string; name: string } | undefined;
      /** This member's own certificate, presented to its peers. */
      clientCert: () => KeyPair;
      timing?: Partial<RaftTiming>;
    },
  ) {
    this.#local = o.local;
    this.#fsm = o.fsm;
    this.#log = o.log.with({ component: "raft" });
    this.#storage = new SqliteStorage(o.local.db, o.snapshotPath);
    this.#dbDir = o.snapshotPath.slice(0, o.snapshotPath.lastIndexOf("/")) || ".";
    this.#timing = { ...DEFAULT_TIMING, ...timingFromEnv(), ...(o.timing ?? {}) };
    this.#memberOf = o.memberOf;
    this.#clientCert = o.clientCert;
  }

  /** This member's raft id: its entry in raft_nodes matching its cluster address, or 1 standalone. */
  get raftId(): number {
    return this.#driver?.id ?? this.#findSelf();
  }

  #findSelf(): number {
    const address = this.#local.get("cluster.https_address");
    const nodes = this.#local.raftNodes();
    return nodes.find((n) => n.address === address)?.id ?? nodes[0]?.id ?? 1;
  }

  get storage(): SqliteStorage {
    return this.#storage;
  }

  /** The configuration and addresses as this member last recorded them. */
  raftNodes(): RaftNode[] {
    return this.#local.raftNodes();
  }

  /**
   * Starts Raft. A member with an empty log bootstraps a one-voter cluster of itself (raft id 1),
   * unless it is waiting to join (then it starts nothing until join()).
   */
  async start(tls: KeyPair | null): Promise<void> {
    if (this.#storage.isEmpty) {
      this.#fsm.apply(1, 1, "");
      this.#storage.bootstrap({ voters: [1], standbys: [], spares: [] });
      this.#local.replaceRaftNodes([{
        id: 1,
        address: this.#local.get("cluster.https_address"),
        role: RAFT_ROLE.voter,
        name: "",
      }]);
    } // A spare has a Raft term but no log: it holds no database either (a copy left from an
    // older version, or the empty one the state machine opened, goes).
    else if (!this.#hasLog() && !this.#fsm.dropped) this.#fsm.drop();
    if (tls) await this.setTls(tls);
    this.#startDriver(this.#findSelf());
  }

  #hasLog(): boolean {
    return this.#storage.lastIndex() > 0 || this.#storage.snapshotIndex > 0;
  }

  #startDriver(id: number): void {
    const driver: Driver<TxOutcome[]> = new Driver({
      id,
      storage: this.#storage,
      fsm: this.#fsm,
      log: this.#log,
      send: (msgs) => this.#transport?.send(msgs),
      ...this.#timing,
      onConfState: (conf) => this.#confChanged(conf),
      onLeader: (lead) => this.onLeaderChange?.(lead),
      onFail: (e) => this.#onFail(driver, e),
    });
    this.#driver = driver;
    driver.start();
    const conf = driver.conf;
    // A lone voter need not wait an election timeout to lead.
    if (conf.voters.length === 1 && conf.voters[0] === id) driver.campaign();
  }

  /**
   * A write failed and stopped the driver. A full disk is waited out: the log store and the
   * state machine rolled back what they could not write (both reload what is on disk), so once
   * space is back a new driver starts from the disk as after a restart and catches up from the
   * leader. Any other failure stops this member's database for good (it could be corrupt).
   */
  #onFail(driver: Driver<TxOutcome[]>, e: Error): void {
    if (!isDiskFull(e) || this.#diskFull) return;
    this.#log.error(
      "The disk under the database is full: this member serves no database requests until space is freed",
      {
        dir: this.#dbDir,
        err: e.message,
      },
    );
    const timer = setInterval(() => {
      if (!hasSpace(this.#dbDir)) return;
      clearInterval(timer);
      this.#diskFull = null;
      if (this.#driver !== driver) return; // stopped, joined or left meanwhile
      this.#log.info("Disk space is back: the database runs again and catches up");
      this.#startDriver(driver.id);
    }, 1_000);
    this.#diskFull = { since: new Date().toISOString(), cause: e.message, timer };
  }

  /** Why this member cannot serve the database now (cluster list's MESSAGE), or null. */
  health(): string | null {
    const f = this.#diskFull;
    return f ? `Database disk full since ${f.since} (${f.cause}): free space in ${this.#dbDir}` : null;
  }

  #confChanged(conf: ConfState): void {
    // A joiner starts with no configuration until the leader's snapshot arrives: keep the
    // members the leader named at accept time, or this member could not answer it.
    if (conf.voters.length + conf.standbys.length + conf.spares.length === 0) return;
    const nodes = this.#recordRaftNodes(conf);
    this.#updatePeers(nodes);
    this.onConfChange?.(conf);
  }

  /**
   * Rewrites raft_nodes from the configuration, with addresses and names from the global
   * database where it has them (what this member recorded before, where not yet). A member of
   * whom neither knows an address is left out: after a restart, the log replays configurations
   * older than the database, whose members removed since have no row any more (two of them
   * once broke raft_nodes' UNIQUE address and stopped the member from starting).
   */
  #recordRaftNodes(conf: ConfState): RaftNode[] {
    const recorded = this.#local.raftNodes();
    const known = new Map(recorded.map((n) => [n.id, n]));
    const ids = [...conf.voters, ...conf.standbys, ...conf.spares];
    const taken = new Set<string>();
    const nodes: RaftNode[] = ids.sort((a, b) => a - b).flatMap((id) => {
      const m = this.#memberOf(id);
      const address = m?.address ?? known.get(id)?.address ?? "";
      if (address === "" || taken.has(address)) return [];
      taken.add(address);
      return [{ id, address, role: roleCode(conf, id), name: m?.name ?? known.get(id)?.name ?? "" }];
    });
    if (JSON.stringify(nodes) !== JSON.stringify(recorded)) this.#local.replaceRaftNodes(nodes);
    return nodes;
  }

  /**
   * Brings raft_nodes up to date with the global database: a member renamed, or an address
   * learnt late, changes no Raft configuration, so heartbeats call this.
   */
  refreshRaftNodes(): void {
    const conf = this.#driver?.conf;
    if (!conf || conf.voters.length + conf.standbys.length + conf.spares.length === 0) return;
    // The peers too: a configuration recorded while addresses were unknown (a spare promoted,
    // whose database had not come yet) left those members out of the transport.
    this.#updatePeers(this.#recordRaftNodes(conf));
  }

  #updatePeers(nodes: RaftNode[]): void {
    this.#transport?.setPeers(new Map(nodes.filter((n) => n.address !== "").map((n) => [n.id, n.address])));
  }

  /** Sets the cluster certificate Raft uses between members; starts the transport. */
  async setTls(tls: KeyPair): Promise<void> {
    this.#tls = tls;
    this.#pin = await fingerprint(tls.cert);
    if (this.#transport) this.#transport.setTls(tls, this.#pin);
    else {
      this.#transport = new WsTransport<Message>({
        self: this.raftId,
        tls,
        pin: this.#pin,
        clientCert: this.#clientCert,
        log: this.#log,
        onUnreachable: (id) => this.#driver?.reportUnreachable(id),
        onLost: (id) => this.#driver?.peerLost(id),
        onReached: (id) => this.#driver?.peerReachable(id),
      });
    }
    this.#updatePeers(this.#local.raftNodes());
  }

  /** Takes a batch that arrived on the /internal/raft stream. */
  receive(body: string): void {
    const d = this.#driver;
    if (!d) throw unavailable("Raft is not running on this member yet");
    const batch = decodeBatch<Message>(body);
    d.receive(batch.messages);
  }

  /**
   * A frame from the member whose certificate is on the stream, known as Raft id peer: every
   * message must say it is from that id. Anything else is forged or broken, and throws
   * ForgedFrame: the caller closes the stream, and nothing of the frame reaches Raft.
   */
  receiveFrom(peer: number, body: string): void {
    let batch;
    try {
      batch = decodeBatch<Message>(body);
    } catch (e) {
      throw new ForgedFrame(`malformed frame: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (batch.from !== peer) {
      throw new ForgedFrame(`frame claims Raft id ${batch.from}, its certificate is ${peer}'s`);
    }
    for (const m of batch.messages) {
      const from = (m as { from?: unknown } | null)?.from;
      if (from !== peer) {
        throw new ForgedFrame(`message claims Raft id ${String(from)}, its certificate is ${peer}'s`);
      }
    }
    const d = this.#driver;
    if (!d) throw unavailable("Raft is not running on this member yet");
    d.receive(batch.messages);
  }

  /** Records raft nodes learnt from the leader (a joining member) and refreshes the peers. */
  setRaftNodes(nodes: RaftNode[]): void {
    this.#local.replaceRaftNodes(nodes);
    this.#updatePeers(nodes);
  }

  /**
   * Becomes a fresh member of another cluster: forgets this member's log and database (as LXD
   * warns at join) and starts Raft empty under the given id, to be filled by the leader.
   */
  joinAs(id: number, nodes: RaftNode[]): void {
    if (this.#diskFull) clearInterval(this.#diskFull.timer);
    this.#diskFull = null;
    this.#driver?.stop();
    this.#driver = null;
    this.#storage.reset();
    // No database until the leader sends one: none at all if this member is to be a spare.
    this.#fsm.drop();
    this.#spareByLeader = false;
    this.#local.replaceRaftNodes(nodes);
    this.#transport?.close();
    this.#transport = null;
    if (this.#tls) {
      this.#transport = new WsTransport<Message>({
        self: id,
        tls: this.#tls,
        pin: this.#pin,
        clientCert: this.#clientCert,
        log: this.#log,
        onUnreachable: (peer) => this.#driver?.reportUnreachable(peer),
        onLost: (peer) => this.#driver?.peerLost(peer),
        onReached: (peer) => this.#driver?.peerReachable(peer),
      });
      this.#updatePeers(nodes);
      // Its answers to the leader's first appends and snapshot leave on open streams: the leader
      // is one of the voters (only they: a spare's stream to another spare may never be needed).
      this.#transport.connectTo(nodes.filter((n) => n.role === RAFT_ROLE.voter).map((n) => n.id));
    }
    this.#startDriver(id);
  }

  /** The leader's cluster address, or null when none is known. */
  leaderAddress(): string | null {
    const lead = this.#driver?.leader ?? 0;
    if (!lead) return null;
    return this.#local.raftAddress(lead) || this.#memberOf(lead)?.address || null;
  }

  /**
   * Whether this member holds a replica of the database: a voter or stand-by in the configuration
   * its own log gave it, and not named a spare by the leader's last heartbeat. A spare (or a
   * joiner before its snapshot) reads through the leader (GlobalDB's remote reads).
   */
  replica(): boolean {
    const d = this.#driver;
    if (!d) return true;
    const conf = d.conf;
    return !this.#spareByLeader && (conf.voters.includes(d.id) || conf.standbys.includes(d.id));
  }

  /**
   * The leader's heartbeat named the members and their roles, as of its applied index. A member
   * without a replica keeps them as its raft_nodes (it has no database to find addresses in, and
   * needs the leader's). One named a spare drops what it holds, as LXD's spares hold nothing,
   * unless it holds entries past that index (the heartbeat is older than its log). That is safe:
   * a spare becomes a voter only through a stand-by that acknowledged entries after its
   * promotion (raft.ts starts its progress afresh, and roles.ts counts a spare never caught
   * up), all of them past the index at which the leader still called it a spare; so a member
   * holding nothing past it was counted in no quorum since. A heartbeat from an older term is
   * not followed.
   */
  fromLeader(nodes: RaftNode[] | undefined, applied: number, term: number): void {
    const d = this.#driver;
    if (!nodes || !d || this.#diskFull || term < d.term) return;
    const me = nodes.find((n) => n.id === d.id);
    if (!me) return;
    this.#spareByLeader = me.role === RAFT_ROLE.spare;
    if (!this.replica()) {
      if (JSON.stringify(nodes) !== JSON.stringify(this.#local.raftNodes())) {
        this.setRaftNodes(nodes);
        // A spare applies no configuration: the leader's list is how it sees members come and
        // go, and what watches the configuration (the daemon's memory drop) must see it too.
        this.onConfChange?.(confOfNodes(nodes));
      }
    }
    if (!this.#spareByLeader || this.#storage.lastIndex() > applied) return;
    if (this.#hasLog()) {
      this.#log.info(
        "This member is a spare: it drops its copy of the database and reads through the leader",
      );
      // The stored term and vote, not the driver's term (0 until its first Ready changes it,
      // as after a restart): a term of 0 and no log is an empty store, and the next start
      // would bootstrap a cluster of its own. The vote too: this member may have voted in
      // this term, and must not vote again in it should it become a voter once more.
      const { term, vote } = this.#storage.hardState;
      d.stop();
      this.#driver = null;
      this.#storage.reset();
      this.#storage.persist({ hardState: { term: Math.max(term, 1), vote, commit: 0 }, entries: [] });
      this.#fsm.drop();
      this.#startDriver(d.id);
    } else if (!this.#fsm.dropped) this.#fsm.drop();
  }

  // Consensus

  isLeader(): boolean {
    return !this.#diskFull && (this.#driver?.isLeader() ?? false);
  }

  unavailable(): StatusError | null {
    const f = this.#diskFull;
    if (!f) return null;
    return new StatusError(
      503,
      `This member cannot write its database since ${f.since}: ${f.cause}. It serves again once space is freed in ${this.#dbDir}`,
    );
  }

  leaderReady(): Promise<void> {
    return this.#need().leaderReady();
  }

  propose(data: string): Promise<{ index: number; outcomes: TxOutcome[] }> {
    return this.#need().propose(data);
  }

  readBarrier(): Promise<void> {
    return this.#need().readBarrier();
  }

  waitApplied(index: number): Promise<void> {
    return this.#need().waitApplied(index);
  }

  stopped(): boolean {
    return this.#driver?.stopped ?? false;
  }

  #need(): Driver<TxOutcome[]> {
    const full = this.unavailable();
    if (full) throw full;
    if (!this.#driver) throw new StatusError(503, "The database is not running on this member");
    return this.#driver;
  }

  /**
   * The configuration as of the last applied entry; on a member without a replica (a spare,
   * which is sent no log), as the leader's last heartbeat named it (raft_nodes).
   */
  conf(): ConfState {
    const d = this.#driver;
    if (d && !this.replica()) {
      const nodes = this.#local.raftNodes();
      if (nodes.length > 0) return confOfNodes(nodes);
    }
    return d?.conf ?? { voters: [], standbys: [], spares: [] };
  }

  /** The longest a follower waits without hearing from a leader before it stands for election. */
  electionTimeoutMs(): number {
    // The core draws each election timeout in [electionTick, 2 × electionTick) ticks.
    return 2 * this.#timing.electionTick * this.#timing.tickMs;
  }

  /** The leader's raft id (0: none known). */
  get leader(): number {
    return this.#driver?.leader ?? 0;
  }

  get term(): number {
    return this.#driver?.term ?? 0;
  }

  status(): Status | null {
    return this.#driver?.status() ?? null;
  }

  /** Proposes a membership change and resolves once it is applied. */
  changeMembership(cc: ConfChange): Promise<ConfState> {
    return this.#need().changeMembership(cc);
  }

  /** Hands leadership to another voter; true once someone else leads. */
  transferLeadership(timeoutMs = 2000): Promise<boolean> {
    return this.#need().transferLeadership(timeoutMs);
  }

  /** Stops Raft; a leader first hands leadership to another voter. */
  async stop(handOver: boolean): Promise<void> {
    if (this.#diskFull) clearInterval(this.#diskFull.timer);
    this.#diskFull = null;
    const d = this.#driver;
    if (d && handOver && d.isLeader()) {
      const ok = await d.transferLeadership(2000);
      this.#log.info("Handed over database leadership before stopping", { ok });
      // Give the new leader our last acks and its first heartbeats.
      await new Promise((r) => setTimeout(r, 50));
    }
    d?.stop();
    this.#transport?.close();
    this.#transport = null;
  }
}
