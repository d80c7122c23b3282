import { Hono } from "hono";
import {
  type ApiEnv,
  authenticate,
  callerHeader,
  containersAlias,
  createApp,
  emptySync,
  errorBody,
  frameLimit,
  type Identity,
  type Peer,
  primeTrust,
  type RouteModule,
  type ServerContext,
  sync,
  websocketRoute,
} from "../api/mod.ts";
import { API_EXTENSIONS } from "../api/mod.ts";
import {
  AddressPatch,
  apiExtensionCount,
  Cluster,
  Evacuations,
  FenceWatchdog,
  Fencing,
  Gateway,
  Healer,
  InstanceMoves,
} from "../cluster/mod.ts";
import { EventRelay } from "../cluster/events_relay.ts";
import { OperationsMesh } from "../cluster/operations_mesh.ts";
import { ImageFetcher } from "../cluster/image_fetch.ts";
import { ImageReplicator, replicaMembers } from "../cluster/image_replica.ts";
import { bridge } from "../cluster/proxy.ts";
import type { Placement } from "../cluster/routing.ts";
import type { OpSocket } from "../operations/mod.ts";
import {
  DEFAULT_PROJECT,
  ensureStandaloneNode,
  GlobalDB,
  GlobalFsm,
  LocalDB,
  nodeById,
  updateGlobalSchema,
  volumeKey,
} from "../db/mod.ts";
import type { JoinToken } from "../wire/mod.ts";
import { EventHub } from "../events/mod.ts";
import { type Level, type Logger, RootLogger } from "../log/mod.ts";
import { Operations } from "../operations/mod.ts";
import { InstanceManager } from "../instances/mod.ts";
import { resourceRoutes } from "../api/routes/instances_all.ts";
import { metricsRoutes } from "../api/routes/metrics.ts";
import { evacuationRoutes } from "../api/routes/cluster_evacuate.ts";
import { startNetworks } from "../api/routes/networks.ts";
import { NetworkManager } from "../network/mod.ts";
import { fingerprint, type KeyPair, loadOrCreateKeyPair } from "../tls/mod.ts";
import { errorMessage, forbidden, listenAddresses, notFound, unavailable } from "../util/mod.ts";
import { Endpoints } from "./endpoints.ts";
import { DAEMON_STORAGE_KEYS, moveDaemonStorage } from "./daemon_storage.ts";
import { InFlight, UnixListener, withTimeout } from "./listeners.ts";
import { ensureLayout, type StatePaths, statePaths } from "./paths.ts";
import { sqlRoutes } from "./sql_routes.ts";

/** How a daemon is started. */
export interface DaemonOptions {
  dir: string;
  version: string;
  /** Lowest level logged to stderr. */
  logLevel?: Level | null;
  /** Route modules of higher layers (instances, cluster…), mounted for trusted callers. */
  routes?: RouteModule[];
}

/**
 * The bounds of a graceful stop, in its order: requests in flight finish (the database still
 * runs, so their writes complete), then operations; a voter hands its seat and leadership over;
 * Raft stops, which settles whatever still waits on it; the listeners close. The sum stays well
 * under 30 s, so that `shoald shutdown` and a service manager's SIGTERM see the daemon end.
 */
const REQUEST_GRACE_MS = 5_000;
const OPERATIONS_GRACE_MS = 10_000;
const HANDOVER_MS = 4_000;
const LISTENER_CLOSE_MS = 3_000;

/** LXD's answer to a change asked of a daemon that is stopping (clients recognise the text). */
const SHUTTING_DOWN = "LXD is shutting down";

/**
 * A running member: its state directory, databases, listeners and API. It implements what the
 * routes need (ServerContext) and nothing of the business logic itself.
 */
export class Daemon implements ServerContext {
  readonly version: string;
  readonly paths: StatePaths;
  readonly log: Logger;
  readonly local: LocalDB;
  readonly fsm: GlobalFsm;
  readonly db: GlobalDB;
  readonly events: EventHub;
  readonly operations: Operations;
  readonly instances: InstanceManager;
  /** This member's managed bridges, their NAT and dnsmasq. */
  readonly networks: NetworkManager;
  /** Moves, copies and renames of instances; evacuation moves through it too. */
  readonly moves: InstanceMoves;
  readonly gateway: Gateway;
  readonly cluster: Cluster;
  /** Other members' events for our listeners (full mesh). */
  readonly relay: EventRelay;
  #root: RootLogger;
  /** Images this member creates instances from but does not hold come from another member. */
  #images: ImageFetcher | null = null;
  /** Copies images to members up to cluster.images_minimal_replica. */
  #replicas: ImageReplicator;
  /** Evacuation and restore of this member (lib/cluster/evacuate.ts). */
  readonly evacuations: Evacuations;
  /** Self-fencing and, on the leader, healing (lib/cluster/fence.ts, heal.ts). */
  readonly fencing: Fencing;
  #healer: Healer;
  /** Other members' operations: lists, waits, cancels and websockets reach them through it. */
  #mesh: OperationsMesh;
  #serverCert: KeyPair;
  #serverFingerprint: string;
  #app: Hono<ApiEnv>;
  #inflight = new InFlight();
  /** Address changes left by `shoald cluster edit`, applied through Raft after the start. */
  #addressPatch: AddressPatch;
  #unix: UnixListener | null = null;
  /** The HTTPS listeners: core, cluster and metrics addresses. */
  #endpoints: Endpoints;
  #ready = false;
  /** Set once a graceful stop begins: new changes from clients are refused. */
  #draining = false;
  #stopping: Promise<void> | null = null;
  #stopped = Promise.withResolvers<void>();

  private constructor(
    o: DaemonOptions,
    paths: StatePaths,
    root: RootLogger,
    serverCert: KeyPair,
    fp: string,
  ) {
    this.version = o.version;
    this.paths = paths;
    this.#root = root;
    this.log = root;
    this.#serverCert = serverCert;
    this.#serverFingerprint = fp;
    this.local = new LocalDB(paths.localDb);
    this.#addressPatch = new AddressPatch(paths.database);
    this.fsm = new GlobalFsm(paths.globalDb);
    this.#endpoints = new Endpoints({
      local: this.local,
      log: root,
      certificate: () => this.certificatePair(),
      serve: (req, peer) => this.#serve(req, peer),
      websocket: (url, peer) => this.#websocket(url, peer),
      inflight: this.#inflight,
    });
    this.gateway = new Gateway({
      local: this.local,
      fsm: this.fsm,
      log: root,
      snapshotPath: `${paths.dir}/database/global/raft.snapshot`,
      clientCert: () => this.#serverCert,
      // Before the schema exists (a new member's first start) no member has an address yet.
      memberOf: (id) => {
        try {
          const m = this.db.readStale((tx) => nodeById(tx, id));
          // An address moved by `shoald cluster edit` counts before its patch reaches the rows.
          return m && { ...m, address: this.#addressPatch.address(id, m.address) };
        } catch {
          return undefined;
        }
      },
    });
    this.db = new GlobalDB(this.fsm, this.gateway);
    this.events = new EventHub(() => this.location());
    this.operations = new Operations(this.events, () => this.location());
    this.networks = new NetworkManager({ dir: paths.networks, log: root });
    this.instances = new InstanceManager({
      networks: this.networks,
      db: this.db,
      events: this.events,
      log: root,
      location: () => this.location(),
      containersDir: paths.containers,
      poolsDir: paths.storagePools,
      imagesDir: paths.images,
      fetchImage: (fp, progress) => this.#images!.fetch(fp, progress),
      // An evacuated member starts nothing until it is restored (LXD's 403).
      refuseStart: () =>
        this.fencing?.reason() ?? (this.evacuations?.evacuated() ? "Cluster member is evacuated" : null),
    });
    this.cluster = new Cluster({
      dir: paths.dir,
      version: o.version,
      apiExtensions: apiExtensionCount(API_EXTENSIONS.length),
      local: this.local,
      fsm: this.fsm,
      gateway: this.gateway,
      db: this.db,
      log: root,
      events: this.events,
      operations: this.operations,
      serverCert: () => this.#serverCert,
      onClusterTls: () => this.#endpoints.restart(),
      onStandalone: () => this.#initStandalone(),
      networks: this.networks,
    });
    const self = this.cluster.self;
    this.evacuations = new Evacuations(self, this.cluster, {
      instances: this.instances,
      // A stopped instance goes whole to its new member (lib/cluster/instance_moves.ts).
      move: (project, name, target) => this.moves.move({ project, name, target, stateless: true }),
    });
    this.fencing = new Fencing(
      self,
      this.cluster.heartbeats,
      this.instances,
      new FenceWatchdog({ dir: paths.dir, lxcpath: paths.containers, log: root }),
    );
    this.fencing.mayRestart = () => !this.evacuations.evacuated();
    this.#healer = new Healer(self, this.cluster.heartbeats, this.fencing, this.instances);
    this.#images = new ImageFetcher({
      db: this.db,
      routing: this.cluster.routing,
      store: this.instances.images,
      location: () => this.location(),
    });
    this.#replicas = new ImageReplicator({
      db: this.db,
      members: () => replicaMembers(this.cluster.routing.members(), this.gateway.conf()),
      fetch: (fp) => this.#images!.fetch(fp),
      log: root,
      remove: (fp) => this.instances.images.remove(fp),
      nudges: (on) =>
        this.events.subscribe({ types: ["lifecycle"], allProjects: true }, (e) => {
          const m = e.metadata as { action?: string; source?: string } | undefined;
          if (m?.action === "image-created") on({ kind: "created" });
          const fp = /^\/1\.0\/images\/([0-9a-f]{64})/.exec(m?.source ?? "")?.[1];
          if (m?.action === "image-deleted" && fp) on({ kind: "deleted", fingerprint: fp });
        }),
    });
    const clusterAddress = () => self.clustered() ? self.address() : "";
    this.relay = new EventRelay({
      events: this.events,
      db: this.db,
      log: root,
      tls: () => self.tls,
      clientCert: () => this.#serverCert,
      address: clusterAddress,
      clients: self.clients,
    });
    const mesh = this.#mesh = new OperationsMesh({
      db: this.db,
      tls: () => self.tls,
      address: clusterAddress,
      clients: self.clients,
      whenFailed: (id, cb) => this.relay.operations.whenFailed(id, cb),
      tunnel: (address, method, path, signal) => {
        const name = this.cluster.routing.members().find((m) => m.address === address)?.name ?? address;
        return this.cluster.routing.proxy.tunnelRequest(name, address, { method, path }, signal);
      },
    });
    this.operations.remote = mesh;
    this.moves = new InstanceMoves({
      db: this.db,
      instances: this.instances,
      routing: this.cluster.routing,
      location: () => this.location(),
      log: root,
      events: this.events,
      operationOwner: (id) => mesh.owner(id),
      place: async (target, name, project, exclude) => {
        const p = await this.cluster.routing.place(target, name, project, exclude);
        p.settle(Promise.resolve());
        return p.member;
      },
    });
    // An operation a forwarded request created is waited on through this member: remember where.
    this.cluster.routing.onOperation = (id, address) => mesh.remember(id, address);
    // As LXD, debug records reach no listener (and, taken by no sink, are not even made).
    root.subscribe((r) => {
      this.events.dispatch({
        type: "logging",
        timestamp: r.time.toISOString(),
        metadata: { message: r.message, level: r.level === "warning" ? "warn" : r.level, context: r.context },
        location: this.location(),
        project: "",
      });
    }, "info");
    this.#app = createApp(this, [
      internalRoutes(this),
      sqlRoutes(this),
      ...resourceRoutes(this.instances, paths.storagePools, this.networks),
      evacuationRoutes(this.evacuations),
      metricsRoutes({
        instances: () => this.instances.metrics(),
        cluster: () => this.cluster.metrics.all(),
        local: () => this.cluster.metrics.local(),
      }),
      ...(o.routes ?? []),
    ]);
  }

  /** Starts a member in dir and resolves once it serves requests. */
  static async start(o: DaemonOptions): Promise<Daemon> {
    const paths = statePaths(o.dir);
    ensureLayout(paths);
    await refuseIfRunning(paths.socket);
    const root = new RootLogger({
      stderrLevel: o.logLevel === undefined ? "warning" : o.logLevel,
      file: paths.logFile,
      // The file keeps info and up, and debug too when the daemon runs with --debug.
      fileLevel: o.logLevel === "debug" ? "debug" : "info",
    });
    root.info("shoal is starting", { version: o.version, path: paths.dir });
    const host = Deno.hostname();
    const cert = await loadOrCreateKeyPair(paths.dir, "server", {
      cn: `root@${host}`,
      kind: "server",
      dns: [host, "localhost"],
      ips: ["127.0.0.1", "::1"],
    });
    const d = new Daemon(o, paths, root, cert, await fingerprint(cert.cert));
    try {
      await d.#init();
    } catch (e) {
      await d.#close();
      throw e;
    }
    return d;
  }

  async #init(): Promise<void> {
    await this.cluster.start();
    void this.#addressPatch.apply(this.cluster.self, () => this.#stopping !== null);
    if (!this.cluster.self.clustered()) {
      // Standalone: a one-voter Raft of its own, as LXD runs dqlite even when not clustered.
      await this.db.run(updateGlobalSchema, {});
      await this.db.run(ensureStandaloneNode, {
        arch: Deno.build.arch,
        apiExtensions: apiExtensionCount(API_EXTENSIONS.length),
      });
    }
    this.#unix = await UnixListener.listen(
      this.paths.socket,
      (req, peer) => this.#serve(req, peer),
      (url, peer) => this.#websocket(url, peer),
      this.#inflight,
    );
    await this.#endpoints.restart();
    this.relay.start();
    this.#replicas.start();
    this.fencing.start();
    this.#healer.start();
    // After the listeners: recording this member's version needs Raft traffic both ways.
    await this.cluster.upgrade.check();
    const https = this.local.get("core.https_address");
    // Bridges and dnsmasq before containers: a container starts on its bridge.
    await startNetworks(this, this.networks);
    this.#ready = true;
    // Containers outlive the daemon; start only those that should run and do not (a blocked
    // member waits: its running instances keep running, it starts none).
    // What moves killed mid-way left in the pools is settled before any instance starts.
    const startup = () =>
      void this.moves.recover().then(() => this.instances.startup()).catch((e) =>
        this.log.error("Instance startup failed", { err: errorMessage(e) })
      );
    if (this.cluster.upgrade.state.kind === "open") startup();
    else this.cluster.upgrade.onOpen = startup;
    this.log.info("Daemon started", { socket: this.paths.socket, https: https || "none" });
  }

  async #initStandalone(): Promise<void> {
    await this.db.run(updateGlobalSchema, {});
    await this.db.run(ensureStandaloneNode, {
      arch: Deno.build.arch,
      apiExtensions: apiExtensionCount(API_EXTENSIONS.length),
    });
  }

  /**
   * Every request, from either listener. While the daemon stops, changes from clients are
   * refused as LXD refuses them (reads, events and operations still answer); other members'
   * calls go on, since the writes in flight here need the leader and the Raft stream to finish.
   */
  #serve(req: Request, peer: Peer): Response | Promise<Response> {
    // A blocked member (rolling upgrade) serves only the members' calls and its admin commands.
    const blocked = this.cluster.upgrade.blockedError();
    if (
      blocked &&
      !(new URL(req.url).pathname.startsWith("/internal/") &&
        (peer.transport === "unix" || this.#fromMember(peer)))
    ) {
      return new Response(JSON.stringify(errorBody(503, blocked.message)), {
        status: 503,
        headers: { "Content-Type": "application/json" },
      });
    }
    if (this.#draining && req.method !== "GET" && !this.#fromMember(peer) && !isShutdownRequest(req)) {
      return new Response(JSON.stringify(errorBody(503, SHUTTING_DOWN)), {
        status: 503,
        headers: { "Content-Type": "application/json" },
      });
    }
    return this.#app.fetch(containersAlias(req), { peer });
  }

  /** A websocket: a blocked member (rolling upgrade) takes only the other members' streams. */
  async #websocket(url: URL, peer: Peer) {
    await primeTrust(this, peer);
    const identity = authenticate(this, peer);
    const blocked = this.cluster.upgrade.blockedError();
    if (blocked && identity.kind !== "member") throw blocked;
    return { run: await websocketRoute(this, url, identity), maxFrame: frameLimit(url) };
  }

  #fromMember(peer: Peer): boolean {
    return peer.transport === "tls" && authenticate(this, peer).kind === "member";
  }

  /** The app, for in-process tests. */
  get app(): Hono<ApiEnv> {
    return this.#app;
  }

  get ready(): boolean {
    return this.#ready;
  }

  /** Resolves once the daemon has fully stopped. */
  get stopped(): Promise<void> {
    return this.#stopped.promise;
  }

  // ServerContext

  serverName(): string {
    return this.cluster.self.clustered() ? this.cluster.self.name() : Deno.hostname();
  }
  location(): string {
    return this.cluster.self.clustered() ? this.cluster.self.name() : "none";
  }
  clustered(): boolean {
    return this.cluster.self.clustered();
  }
  certificatePair(): KeyPair {
    return this.cluster.self.tls ?? this.#serverCert;
  }
  certificate(): { cert: string; fingerprint: string } {
    const tls = this.cluster.self.tls;
    if (tls) return { cert: tls.cert, fingerprint: this.cluster.self.fingerprint };
    return { cert: this.#serverCert.cert, fingerprint: this.#serverFingerprint };
  }
  joiningMember = (fp: string): string | null => this.cluster.self.joiningMember(fp);
  proxyWebsocket = async (operation: string, pathAndQuery: string, caller: Identity) => {
    const owner = await this.#mesh.owner(operation);
    if (!owner) throw notFound("Operation not found");
    // Opened now, joined to the client's socket once the client's side is accepted.
    const upstream = this.cluster.routing.openWebsocket(owner, pathAndQuery, callerHeader(caller));
    upstream.catch(() => {});
    return (socket: OpSocket) => bridge(socket, upstream);
  };
  serveFromMember = (req: Request, peer: Peer): Promise<Response> =>
    this.#inflight.track(async () => await this.#serve(req, peer));
  placeInstance = (
    target: { group: string } | { within: string[] } | null,
    name: string,
    project: string,
  ): Promise<Placement> => this.cluster.routing.place(target, name, project);
  askMember = <T>(member: string, path: string): Promise<T> => this.cluster.routing.ask<T>(member, path);
  forward = (member: string, request: Request, caller: Identity): Promise<Response> =>
    this.cluster.routing.forward(member, request, callerHeader(caller));
  redeemJoinToken = (token: JoinToken): Promise<void> => this.cluster.tokens.redeem(token);
  addresses(): string[] {
    return listenAddresses(this.local.get("core.https_address"));
  }

  async applyLocalConfig(changes: Record<string, string>): Promise<void> {
    for (const [key, dir] of Object.entries(DAEMON_STORAGE_KEYS)) {
      const value = changes[key];
      if (value === undefined) continue;
      const [pool, volume] = value.split("/");
      await moveDaemonStorage(
        key,
        `${this.paths.dir}/${dir}`,
        value === "" ? null : {
          name: value,
          dir: (await this.instances.pool(pool!)).customPath(volumeKey(DEFAULT_PROJECT, volume!)),
        },
      );
    }
    return await this.#endpoints.applyLocalConfig(changes);
  }

  /**
   * Stops gracefully, in an order that lets every write in flight end and never waits without a
   * bound (see REQUEST_GRACE_MS): new changes are refused at once; what is in flight finishes
   * while Raft still runs; a voter hands over; Raft stops and settles whatever still waits, each
   * with a 503 that says whether the change was made; the listeners close. Safe to call more
   * than once.
   */
  shutdown(reason = "shutdown"): Promise<void> {
    this.#stopping ??= (async () => {
      // A stopping member loses the cluster on purpose: it must not fence its instances for it.
      this.fencing.stop();
      this.#healer.stop();
      this.log.info("Starting shutdown sequence", { reason });
      this.#ready = false;
      this.#draining = true;
      await this.#inflight.settled(REQUEST_GRACE_MS);
      await this.operations.drain(OPERATIONS_GRACE_MS);
      // A voter hands its seat (and a leader its leadership) over before it goes, so the
      // others need not wait out an election nor run short of voters.
      await withTimeout(
        this.cluster.handOver.leave().catch((e) =>
          this.log.warn("Hand-over failed", { err: errorMessage(e) })
        ),
        HANDOVER_MS,
      );
      await this.gateway.stop(true).catch((e) => this.log.warn("Raft stop failed", { err: errorMessage(e) }));
      this.cluster.stop();
      await withTimeout(this.networks.shutdown(), LISTENER_CLOSE_MS);
      await this.#close();
      this.log.info("Daemon stopped");
      this.#root.close();
      this.#stopped.resolve();
    })();
    return this.#stopping;
  }

  async #close(): Promise<void> {
    const closing: Promise<void>[] = [];
    closing.push(this.#endpoints.close(LISTENER_CLOSE_MS));
    if (this.#unix) closing.push(this.#unix.close(LISTENER_CLOSE_MS));
    await Promise.allSettled(closing);
    this.#unix = null;
    this.fencing.stop();
    this.#healer.stop();
    this.relay.stop();
    this.#replicas.stop();
    this.moves.close();
    this.cluster.stop();
    await this.gateway.stop(false).catch(() => {});
    this.fsm.close();
    this.local.close();
  }
}

/** `shoald shutdown` again while stopping: answered, as the first one was. */
function isShutdownRequest(req: Request): boolean {
  return req.method === "PUT" && new URL(req.url).pathname === "/internal/shutdown";
}

/** Fails if a live daemon answers on the socket; removes a stale socket file. */
async function refuseIfRunning(socket: string): Promise<void> {
  try {
    await Deno.lstat(socket);
  } catch {
    return;
  }
  try {
    const conn = await Deno.connect({ transport: "unix", path: socket });
    conn.close();
    throw new Error(`shoald is already running: ${socket} answers; stop it first (shoald shutdown)`);
  } catch (e) {
    if (e instanceof Error && e.message.startsWith("shoald is already running")) throw e;
    await Deno.remove(socket).catch(() => {});
  }
}

/** /internal routes of the unix socket: readiness and shutdown for `shoald waitready|shutdown`. */
function internalRoutes(d: Daemon): RouteModule {
  return () => {
    const app = new Hono<ApiEnv>();
    app.get("/internal/ready", (c) => {
      if (!d.ready) throw unavailable("Daemon is not ready yet");
      const blocked = d.cluster.upgrade.blockedError();
      if (blocked) throw blocked;
      return emptySync(c);
    });
    app.put("/internal/shutdown", (c) => {
      if (c.var.identity.protocol !== "unix") throw forbidden();
      // Answer first; the caller then waits for the socket to go away.
      setTimeout(() => void d.shutdown("shutdown request"), 0);
      return sync(c, {});
    });
    return app;
  };
}
