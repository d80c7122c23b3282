/**
 * Cluster metrics from any member (LXD and Incus both say "scrape each member separately"):
 * this member asks every other one for its own figures (GET /internal/metrics) and labels each
 * member's samples with `location`, beside every member's state and roles as the member list
 * has them. A member that does not answer within a second shows as not scraped
 * (shoal_cluster_member_scraped 0) instead of holding the whole answer up.
 * @module
 */
import { type Family, family, type Labels, METRICS } from "../util/metrics.ts";
import { errorMessage } from "../util/mod.ts";
import { callMember, MEMBER_CALLS } from "./member_calls.ts";
import type { MemberList } from "./member_list.ts";
import type { Self } from "./self.ts";
import type { Operations } from "../operations/mod.ts";

const REMOTE_TIMEOUT_MS = 1_000;
const started = Date.now();

/** Samples with their member's location, ready for renderText. */
export type Located = { families: Family[]; extra: Labels };

export class ClusterMetrics {
  #self: Self;
  #members: MemberList;
  #operations: Operations;

  constructor(self: Self, members: MemberList, operations: Operations) {
    this.#self = self;
    this.#members = members;
    this.#operations = operations;
  }

  /** This member's own figures: Raft, the process, and what METRICS recorded. */
  local(): Family[] {
    const g = this.#self.gateway;
    const st = g.status();
    const out: Family[] = [];
    const mem = Deno.memoryUsage();
    out.push(
      family("shoal_process_resident_memory_bytes", "gauge", "Resident memory of the member's process.", [
        { labels: {}, value: mem.rss },
      ]),
      family("shoal_process_heap_used_bytes", "gauge", "JavaScript heap in use.", [
        { labels: {}, value: mem.heapUsed },
      ]),
      family("lxd_uptime_seconds", "gauge", "The daemon uptime in seconds.", [
        { labels: {}, value: (Date.now() - started) / 1000 },
      ]),
      family("lxd_operations_total", "gauge", "The number of running operations.", [
        { labels: {}, value: this.#operations.list().filter((o) => o.status === "Running").length },
      ]),
    );
    if (st) {
      const names = new Map(g.raftNodes().map((n) => [n.id, n.name || n.address]));
      out.push(
        family("shoal_raft_term", "gauge", "The Raft term this member is in.", [{
          labels: {},
          value: st.term,
        }]),
        family("shoal_raft_commit_index", "gauge", "The highest log index known committed.", [
          { labels: {}, value: st.commit },
        ]),
        family("shoal_raft_applied_index", "gauge", "The highest log index applied to the database.", [
          { labels: {}, value: st.applied },
        ]),
        family("shoal_raft_leader", "gauge", "1 on the member that leads the database.", [
          { labels: {}, value: st.role === "leader" ? 1 : 0 },
        ]),
        family(
          "shoal_raft_replication_lag_entries",
          "gauge",
          "On the leader: log entries a member has yet to store (commit index minus its match).",
          Object.entries(st.progress ?? {}).filter(([id]) => Number(id) !== st.id).map(([id, p]) => ({
            labels: { follower: names.get(Number(id)) ?? id },
            value: Math.max(0, st.commit - p.match),
          })),
        ),
      );
    }
    out.push(...METRICS.families());
    return out;
  }

  /** Every member's figures, each labelled with its location, and the member list's view. */
  async all(): Promise<Located[]> {
    const self = this.#self;
    if (!self.clustered()) return [{ families: this.local(), extra: { location: "none" } }];
    const members = await this.#members.list();
    const me = self.name();
    const scraped = new Map<string, boolean>();
    const parts = await Promise.all(members.map(async (m): Promise<Located | null> => {
      const extra = { location: m.server_name };
      if (m.server_name === me) {
        scraped.set(m.server_name, true);
        return { families: this.local(), extra };
      }
      if (m.status !== "Online") {
        scraped.set(m.server_name, false);
        return null;
      }
      try {
        const address = new URL(m.url).host;
        const families = await callMember(
          self.clients.get(address),
          MEMBER_CALLS.metrics,
          {},
          AbortSignal.timeout(REMOTE_TIMEOUT_MS),
        );
        scraped.set(m.server_name, true);
        return { families, extra };
      } catch (e) {
        self.log.debug("Member metrics not scraped", { member: m.server_name, err: errorMessage(e) });
        scraped.set(m.server_name, false);
        return null;
      }
    }));
    const state = members.map((m) => ({
      families: [
        family("shoal_cluster_member_online", "gauge", "1 while the member answers heartbeats (ONLINE).", [
          { labels: { status: m.status }, value: m.status === "Online" ? 1 : 0 },
        ]),
        family("shoal_cluster_member_roles", "gauge", "The member's roles, one sample each.", [
          ...m.roles.map((role) => ({ labels: { role }, value: 1 })),
        ]),
        family(
          "shoal_cluster_member_scraped",
          "gauge",
          "1 when the member's own figures are in this answer.",
          [
            { labels: {}, value: scraped.get(m.server_name) ? 1 : 0 },
          ],
        ),
      ],
      extra: { location: m.server_name },
    }));
    return [...state, ...parts.filter((p): p is Located => p !== null)];
  }
}
