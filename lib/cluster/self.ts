import {
  type GlobalDB,
  type GlobalFsm,
  globalValue,
  type LocalDB,
  readGlobalConfig,
  type ReadTx,
} from "../db/mod.ts";
import type { EventHub } from "../events/mod.ts";
import type { Logger } from "../log/mod.ts";
import { fingerprint, type KeyPair, readKeyPair, writeKeyPair } from "../tls/mod.ts";
import { MemberClients } from "./connect.ts";
import { memberNameAt } from "./route_rows.ts";
import { MemberStreams } from "./member_streams.ts";
import type { Gateway } from "./gateway.ts";

/** What a member is made of, as the daemon hands it to lib/cluster. */
export interface SelfOptions {
  dir: string;
  version: string;
  apiExtensions: number;
  local: LocalDB;
  fsm: GlobalFsm;
  gateway: Gateway;
  db: GlobalDB;
  log: Logger;
  events: EventHub;
  /** This member's own server certificate: what it presents to the others (they know it by it). */
  serverCert: () => KeyPair;
}

/**
 * This member as every part of lib/cluster sees it: its cluster certificate and fingerprint,
 * its address, whether it is clustered, its name, the one set of clients to the other members,
 * and the handles (databases, gateway, log, events) the parts share. The parts (forwarding,
 * heartbeats, tokens, membership…) each take this and none reaches into another's state.
 */
export class Self {
  readonly dir: string;
  readonly version: string;
  readonly apiExtensions: number;
  readonly local: LocalDB;
  readonly fsm: GlobalFsm;
  readonly gateway: Gateway;
  readonly db: GlobalDB;
  readonly log: Logger;
  readonly events: EventHub;
  /** This member's own certificate, presented to other members. */
  readonly serverCert: () => KeyPair;
  /** Clients to the other members, with the cluster certificate: shared by every part. */
  readonly clients: MemberClients;
  /** Call streams to and from the other members: calls delivered at most once (member_streams.ts). */
  readonly streams: MemberStreams;
  #tls: KeyPair | null = null;
  #fingerprint = "";
  #nameCache: { version: string; fromNodes: boolean; address: string; name: string } | null = null;
  /** While joining, before the database has them: the members' certificates, from the leader. */
  #joining: Map<string, string> | null = null;

  constructor(o: SelfOptions) {
    this.dir = o.dir;
    this.version = o.version;
    this.apiExtensions = o.apiExtensions;
    this.local = o.local;
    this.fsm = o.fsm;
    this.gateway = o.gateway;
    this.db = o.db;
    this.log = o.log;
    this.events = o.events;
    this.serverCert = o.serverCert;
    this.clients = new MemberClients(() => this.#tls, o.serverCert);
    this.streams = new MemberStreams(
      () => this.#tls ? { pair: this.#tls, pin: this.#fingerprint } : null,
      o.serverCert,
    );
  }

  /** Reads the cluster certificate from disk (present once clustered). */
  async load(): Promise<void> {
    await this.setTls(await readKeyPair(this.dir, "cluster"));
  }

  /** The cluster certificate, once clustered. */
  get tls(): KeyPair | null {
    return this.#tls;
  }

  /** The cluster certificate's fingerprint ("" standalone). */
  get fingerprint(): string {
    return this.#fingerprint;
  }

  /** Uses a cluster certificate from now on (null: none); clients made with the old one go. */
  async setTls(tls: KeyPair | null): Promise<void> {
    // Both change together: a reader never sees a certificate with another one's fingerprint.
    const fp = tls ? await fingerprint(tls.cert) : "";
    this.#tls = tls;
    this.#fingerprint = fp;
    this.clients.reset();
    this.streams.reset();
  }

  /** Writes the cluster certificate to disk (setTls then uses it). */
  writeTls(tls: KeyPair): Promise<void> {
    return writeKeyPair(this.dir, "cluster", tls);
  }

  /** Forgets the cluster certificate, on disk too (this member left its cluster). */
  async forgetTls(): Promise<void> {
    for (const f of ["cluster.crt", "cluster.key", "cluster.crt.tmp", "cluster.key.tmp"]) {
      await Deno.remove(`${this.dir}/${f}`).catch(() => {});
    }
    await this.setTls(null);
  }

  /** Knows the members by the leader's word until this member's database has caught up (join). */
  setJoining(members: { name: string; fingerprint: string }[] | null): void {
    this.#joining = members ? new Map(members.map((m) => [m.fingerprint, m.name])) : null;
  }

  /** A member's name by its certificate, as the leader told a joiner; null once joined. */
  joiningMember(fp: string): string | null {
    return this.#joining?.get(fp) ?? null;
  }

  /** Whether this member is part of a cluster (it has the cluster certificate and an address). */
  clustered(): boolean {
    return this.#tls !== null && this.local.get("cluster.https_address") !== "";
  }

  /** This member's address on the cluster network. */
  address(): string {
    return this.local.get("cluster.https_address");
  }

  /** This member's name (from its row in the global database), "none" standalone. */
  name(): string {
    if (!this.clustered()) return "none";
    const address = this.address();
    // Every event and operation names its member: ask the database only after it changed (on a
    // spare, which has no copy, after its answers from the leader changed).
    // A name read from nodes is kept until that table changes (every write moves readVersion,
    // and each event of a busy leader asked again: ~5 us of a PATCH /1.0, CPU profile); one
    // from raft_nodes, until anything does, as before.
    const c = this.#nameCache;
    if (c !== null && c.address === address) {
      if (c.version === (c.fromNodes ? this.db.tableReadVersion("nodes") : this.db.readVersion)) {
        return c.name;
      }
    }
    const nodesVersion = this.db.tableReadVersion("nodes"), version = this.db.readVersion;
    // Right after `shoald cluster edit` moved this member, its row has the old address until
    // the patch is applied: raft_nodes knows the name meanwhile. By routeRows, which a spare
    // fetches ahead: a query of its own was never fetched until first asked, and a renamed
    // spare kept its old name.
    const row = this.stale((tx) => memberNameAt(tx, address), undefined);
    const name = row ?? (this.local.raftNodes().find((n) => n.address === address)?.name || "none");
    this.#nameCache = row !== undefined
      ? { version: nodesVersion, fromNodes: true, address, name }
      : { version, fromNodes: false, address, name };
    return name;
  }

  /** Reads local state; before the schema exists (a new member) there is nothing to read. */
  stale<R>(fn: (tx: ReadTx) => R, fallback: R): R {
    try {
      return this.db.readStale(fn);
    } catch {
      return fallback;
    }
  }

  /** stale(), waiting for the leader's answers on a member that holds no replica (a spare). */
  async warm<R>(fn: (tx: ReadTx) => R, fallback: R): Promise<R> {
    try {
      return await this.db.warm(fn);
    } catch {
      return fallback;
    }
  }

  /** cluster.offline_threshold, in milliseconds, as this member last saw it. */
  offlineThresholdMs(): number {
    const config = this.stale(readGlobalConfig, {});
    return Number(globalValue(config, "cluster.offline_threshold")) * 1000;
  }

  /** Closes the clients and call streams to other members (the member stops). */
  stop(): void {
    this.clients.reset();
    this.streams.close();
  }
}
