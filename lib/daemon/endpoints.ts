/**
 * This member's HTTPS listeners (LXD's endpoints): core.https_address, cluster.https_address
 * when it is a different address, and core.metrics_address (GET /1.0/metrics only). They start,
 * move and take a new certificate without a gap, and close with the daemon; the unix socket and
 * what a request does stay with the daemon, which hands its handlers in.
 */
import { errorBody } from "../api/mod.ts";
import type { LocalDB } from "../db/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { KeyPair } from "../tls/mod.ts";
import { badRequest, errorMessage, notFound, splitHostPort } from "../util/mod.ts";
import { type FetchHandler, HttpsListener, type InFlight, type UpgradeHandler } from "./listeners.ts";

/** What the listeners need of the daemon. */
export interface EndpointsOptions {
  local: LocalDB;
  log: Logger;
  /** The certificate to serve now (the cluster's once clustered). */
  certificate: () => KeyPair;
  serve: FetchHandler;
  websocket: UpgradeHandler;
  inflight: InFlight;
}

export class Endpoints {
  #o: EndpointsOptions;
  #https: HttpsListener | null = null;
  /** A second listener when cluster.https_address differs from core.https_address. */
  #clusterHttps: HttpsListener | null = null;
  /** core.metrics_address: GET /1.0/metrics only. */
  #metricsHttps: HttpsListener | null = null;

  constructor(o: EndpointsOptions) {
    this.#o = o;
  }

  #listenHttps(address: string): Promise<HttpsListener> {
    const { host, port } = splitHostPort(address);
    return HttpsListener.listen(
      { host, port, label: address },
      this.#o.certificate(),
      (req, peer) => this.#o.serve(req, peer),
      (url, peer) => this.#o.websocket(url, peer),
      this.#o.inflight,
    );
  }

  /**
   * core.metrics_address (LXD's metrics listener): GET /1.0/metrics and nothing else, under the
   * same trust as on the API (metrics certificates, trusted clients).
   */
  #listenMetrics(address: string): Promise<HttpsListener> {
    const { host, port } = splitHostPort(address);
    return HttpsListener.listen(
      { host, port, label: address },
      this.#o.certificate(),
      (req, peer) =>
        new URL(req.url).pathname === "/1.0/metrics"
          ? this.#o.serve(req, peer)
          : new Response(JSON.stringify(errorBody(404, "not found")), {
            status: 404,
            headers: { "Content-Type": "application/json" },
          }),
      () => {
        throw notFound("not found");
      },
      this.#o.inflight,
    );
  }

  /** Starts, moves or stops the metrics listener (core.metrics_address; "" for none). */
  async restartMetrics(address = this.#o.local.get("core.metrics_address")): Promise<void> {
    const l = this.#metricsHttps;
    if (l && l.address === address) {
      l.setCertificate(this.#o.certificate());
      return;
    }
    if (address !== "") {
      // A new address first, so that a bad one is refused with the old listener still serving.
      const next = await this.#listenMetrics(address).catch(async (e) => {
        if (!l || !endpointsClash(l.address, address)) throw e;
        await l.close(this.#o.inflight, 1000);
        this.#metricsHttps = null;
        return await this.#listenMetrics(address);
      });
      if (this.#metricsHttps) await this.#metricsHttps.close(this.#o.inflight, 1000);
      this.#metricsHttps = next;
      return;
    }
    this.#metricsHttps = null;
    if (l) await l.close(this.#o.inflight, 1000);
  }

  /**
   * (Re)starts the HTTPS listeners with the certificate to serve now: core.https_address, and
   * cluster.https_address when it is a different address.
   */
  async restart(): Promise<void> {
    const core = this.#o.local.get("core.https_address");
    const cluster = this.#o.local.get("cluster.https_address");
    const want = [core, cluster !== core ? cluster : ""];
    const have = [this.#https, this.#clusterHttps];
    const next: (HttpsListener | null)[] = [];
    for (let i = 0; i < 2; i++) {
      const address = want[i]!;
      const l = have[i] ?? null;
      if (l && l.address === address) {
        // Same address: serve the new certificate to new connections, without a gap.
        l.setCertificate(this.#o.certificate());
        next.push(l);
        continue;
      }
      if (l) await l.close(this.#o.inflight, 1000);
      if (address === "") {
        next.push(null);
        continue;
      }
      try {
        next.push(await this.#listenHttps(address));
      } catch (e) {
        // As LXD: a bad stored address must not keep the daemon from starting on its socket.
        this.#o.log.error("Failed to start the HTTPS listener", { address, err: errorMessage(e) });
        next.push(null);
      }
    }
    [this.#https, this.#clusterHttps] = next as [HttpsListener | null, HttpsListener | null];
    await this.restartMetrics().catch((e) =>
      this.#o.log.error("Failed to start the metrics listener", {
        address: this.#o.local.get("core.metrics_address"),
        err: errorMessage(e),
      })
    );
  }

  async applyLocalConfig(changes: Record<string, string>): Promise<void> {
    if ("core.metrics_address" in changes) {
      const next = changes["core.metrics_address"]!;
      await this.restartMetrics(next).catch((e) => {
        throw badRequest(`Cannot listen on metrics socket "${next}": ${errorMessage(e)}`);
      });
    }
    if (!("core.https_address" in changes)) return;
    const next = changes["core.https_address"]!;
    const old = this.#https;
    if (next === (old?.address ?? "")) return;
    if (this.#clusterHttps && this.#clusterHttps.address === next) {
      // The cluster listener already serves that address: it serves both from now on.
      this.#https = this.#clusterHttps;
      this.#clusterHttps = null;
      if (old) void old.close(this.#o.inflight, 5000).catch(() => {});
      return;
    }
    if (next === "") {
      this.#https = null;
      if (old) void old.close(this.#o.inflight, 5000).catch(() => {});
      return;
    }
    // The new socket cannot bind while the old one holds the same endpoint: close it first,
    // and bring it back if the new address fails.
    const clash = old !== null && endpointsClash(old.address, next);
    if (clash) {
      await old!.close(this.#o.inflight, 1000);
      this.#https = null;
    }
    try {
      this.#https = await this.#listenHttps(next);
    } catch (e) {
      if (clash) this.#https = await this.#listenHttps(old!.address).catch(() => null);
      throw badRequest(`Cannot listen on https socket "${next}": ${errorMessage(e)}`);
    }
    if (old && !clash) void old.close(this.#o.inflight, 5000).catch(() => {});
  }

  /** Closes every HTTPS listener, letting requests in flight end within timeoutMs. */
  async close(timeoutMs: number): Promise<void> {
    const closing: Promise<void>[] = [];
    if (this.#https) closing.push(this.#https.close(this.#o.inflight, timeoutMs));
    if (this.#clusterHttps) closing.push(this.#clusterHttps.close(this.#o.inflight, timeoutMs));
    if (this.#metricsHttps) closing.push(this.#metricsHttps.close(this.#o.inflight, timeoutMs));
    await Promise.allSettled(closing);
    this.#https = null;
    this.#clusterHttps = null;
    this.#metricsHttps = null;
  }
}

/** Whether two listen addresses compete for the same socket (same port, same or wildcard host). */
function endpointsClash(a: string, b: string): boolean {
  const x = splitHostPort(a);
  const y = splitHostPort(b);
  const wildcard = (h: string) => h === "" || h === "0.0.0.0" || h === "::";
  return x.port === y.port && (x.host === y.host || wildcard(x.host) || wildcard(y.host));
}
