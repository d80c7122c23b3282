/**
 * `shoal cluster doctor`: what every reachable member knows (its Raft configuration and
 * raft_nodes, its copy of `nodes`, versions, clock and certificates) compared in one place, and
 * each problem printed with its cause and the exact commands that fix it, in order. None of
 * LXD, Incus or microcloud has this; their issue trackers show operators guessing.
 * @module
 */
import { listNodes } from "../db/mod.ts";
import { parseCertificate } from "../tls/mod.ts";
import { errorMessage } from "../util/mod.ts";
import type { Heartbeats } from "./heartbeat.ts";
import { callMember, MEMBER_CALLS } from "./member_calls.ts";
import type { Self } from "./self.ts";
import type { MemberState } from "./doctor_state.ts";
import type { DoctorReport, Problem } from "../wire/mod.ts";

export type { DoctorReport, MemberState, Problem };
import { blockedReason, compareVersions, type UpgradeGate, versionsOf } from "./upgrade.ts";

/** Builds this member's state. */
export async function memberState(
  self: Self,
  heartbeats: Heartbeats,
  gate: UpgradeGate,
): Promise<MemberState> {
  const g = self.gateway;
  const nodes = self.stale(listNodes, []);
  const status = g.status();
  const expires = async (pem: string | undefined) => {
    if (!pem) return null;
    try {
      return (await parseCertificate(pem)).notAfter.toISOString();
    } catch {
      return null;
    }
  };
  const gs = gate.state;
  return {
    name: self.name(),
    address: self.address(),
    time: Date.now(),
    version: self.version,
    schema: gate.versions.schema,
    api: gate.versions.api,
    blocked: gs.kind === "blocked" ? gs.reason : null,
    raft: {
      id: g.raftId,
      leader: g.leader,
      term: g.term,
      commit: status?.commit ?? 0,
      applied: self.fsm.appliedIndex,
      conf: g.conf(),
    },
    raftNodes: g.raftNodes(),
    nodes: nodes.map((n) => ({
      id: n.id,
      name: n.name,
      address: n.address,
      schema: n.schema,
      api_extensions: n.api_extensions,
    })),
    online: Object.fromEntries(nodes.map((n) => [n.address, heartbeats.of(n.address).online])),
    clusterCertExpires: await expires(self.tls?.cert),
    serverCertExpires: await expires(self.serverCert().cert),
  };
}

/** What the doctor heard from one address. */
export type Probe =
  | { address: string; ok: true; state: MemberState; sentAt: number; rttMs: number }
  | { address: string; ok: false; error: string };

const DAY_MS = 86_400_000;
const SKEW_MS = 1_000;

/**
 * PURE. Compares what `self` (the member asked) and the probes of every other address say, and
 * lists the problems with their fixes. `now` is the asking member's clock.
 */
export function diagnose(self: MemberState, probes: Probe[], now: number): DoctorReport {
  const problems: Problem[] = [];
  const reached = new Map<string, MemberState>([[self.address, self]]);
  for (const p of probes) if (p.ok) reached.set(p.address, p.state);
  const down = probes.filter((p): p is Extract<Probe, { ok: false }> => !p.ok);
  const nodeById = new Map(self.nodes.map((n) => [n.id, n]));
  const nameOf = (id: number) =>
    nodeById.get(id)?.name || self.raftNodes.find((r) => r.id === id)?.name || `#${id}`;
  const addressOf = (id: number) =>
    nodeById.get(id)?.address || self.raftNodes.find((r) => r.id === id)?.address || "";

  // Quorum, as this member's configuration counts it.
  const voters = self.raft.conf.voters;
  const alive = voters.filter((id) => reached.has(addressOf(id)));
  if (voters.length > 0 && alive.length * 2 <= voters.length) {
    const holders = [...self.raft.conf.voters, ...self.raft.conf.standbys]
      .map((id) => reached.get(addressOf(id)))
      .filter((s): s is MemberState => s !== undefined);
    const survivor = holders.sort((a, b) =>
      b.raft.applied - a.raft.applied || b.raft.commit - a.raft.commit ||
      Number(b.address === self.address) - Number(a.address === self.address)
    )[0] ?? self;
    const lost = voters.filter((id) =>
      !reached.has(addressOf(id))
    );
    const others = [...reached.values()].filter((s) => s.address !== survivor.address);
    problems.push({
      kind: "quorum-lost",
      summary: `Quorum lost: ${alive.length} of ${voters.length} database voters answer (${
        lost.map((id) => `${nameOf(id)} at ${addressOf(id)}`).join(", ")
      } do not)`,
      cause:
        `The database needs a majority of its voters. If the lost members come back, start their shoald and nothing else is needed. If they are gone for good, recover on ${survivor.name} (${survivor.address}): it holds the most recent copy of the database (applied index ${survivor.raft.applied}).`,
      fix: [
        ...others.map((s) => `shoald shutdown   # on ${s.name} (${s.address})`),
        `shoald shutdown   # on ${survivor.name}`,
        `shoald cluster list-database   # on ${survivor.name}: check the voters it knows`,
        `shoald cluster recover-from-quorum-loss --quiet   # on ${survivor.name}`,
        `shoald   # start it again on ${survivor.name}`,
        ...lost.map((id) => `lxc cluster remove ${nameOf(id)} --force --yes`),
        ...others.map((s) =>
          `lxc cluster remove ${s.name} --force --yes; then join ${s.name} again with a token from "lxc cluster add ${s.name}"`
        ),
      ],
    });
  }

  // Members that do not answer (one reason or another): quorum aside, each one is named.
  const quorumLost = problems.some((p) => p.kind === "quorum-lost");
  for (const p of down) {
    const n = self.nodes.find((x) => x.address === p.address);
    if (!n) continue;
    if (quorumLost && voters.includes(n.id)) continue;
    problems.push({
      kind: "member-unreachable",
      summary: `Member ${n.name} does not answer at ${p.address}: ${p.error}`,
      cause:
        `Its daemon is stopped, its machine is down, or its address changed. If the address changed, every member's Raft configuration must learn the new one (shoald cluster edit with the daemons stopped).`,
      fix: [
        `shoald   # start it on ${n.name}, if it is only stopped`,
        `shoald cluster show | sed 's/${p.address}/NEW_ADDRESS/' | shoald cluster edit   # on every member, daemons stopped, if its address changed`,
        `lxc cluster remove ${n.name} --force --yes   # if it is gone for good`,
      ],
    });
  }

  // A Raft member with no row: left over from an unclean removal.
  for (const id of [...self.raft.conf.voters, ...self.raft.conf.standbys, ...self.raft.conf.spares]) {
    if (nodeById.has(id)) continue;
    const address = self.raftNodes.find((r) => r.id === id)?.address ?? "";
    problems.push({
      kind: "leftover-raft-member",
      summary: `Raft member ${id} (${
        address || "no address"
      }) is in the database configuration but no cluster member`,
      cause:
        "A member removed uncleanly stayed in the Raft configuration: it counts for quorum and never answers.",
      fix: [`shoald cluster remove-raft-node ${address || `ADDRESS_OF_${id}`} --quiet`],
    });
  }

  // raft_nodes that disagree with the members' addresses.
  for (const s of reached.values()) {
    const wrong = s.raftNodes.filter((r) => {
      const n = nodeById.get(r.id);
      return n !== undefined && r.address !== "" && r.address !== n.address;
    });
    if (wrong.length === 0) continue;
    problems.push({
      kind: "address-changed",
      summary: `${s.name} knows ${
        wrong.map((r) => `${nameOf(r.id)} at ${r.address}`).join(", ")
      } but the cluster has ${wrong.map((r) => `${nameOf(r.id)} at ${addressOf(r.id)}`).join(", ")}`,
      cause: "A member's address changed and this member's Raft configuration still has the old one.",
      fix: [
        `shoald shutdown   # on ${s.name}`,
        `shoald cluster edit   # on ${s.name}, changing: ${
          wrong.map((r) => `"address: ${r.address}" to "address: ${addressOf(r.id)}" (id ${r.id})`).join(", ")
        }`,
        `shoald   # start it again on ${s.name}`,
      ],
    });
  }

  // Rolling upgrade in progress.
  const blocked = self.nodes.filter((n) => blockedReason(n, self.nodes) !== null);
  if (blocked.length > 0) {
    const newest = blocked[0]!;
    const old = self.nodes.filter((n) => compareVersions(versionsOf(newest), versionsOf(n)) > 0);
    problems.push({
      kind: "upgrade-blocked",
      summary: `Upgrade in progress: ${blocked.map((n) => n.name).join(", ")} wait (Blocked) for ${
        old.map((n) => `${n.name} (schema ${n.schema}, ${n.api_extensions} API extensions)`).join(", ")
      } to be upgraded`,
      cause: "Members with a newer version serve nothing until every member runs it.",
      fix: old.map((n) =>
        `upgrade shoal on ${n.name} to the version of ${newest.name}, then restart shoald there`
      ),
    });
  }

  // Answers us, yet misses the leader's heartbeats.
  for (const [address, s] of reached) {
    if (address === self.address || self.online[address] !== false) continue;
    problems.push({
      kind: "one-way-offline",
      summary: `${s.name} answers at ${address} but misses heartbeats: the cluster counts it OFFLINE`,
      cause:
        "Traffic reaches it from here but not from the database leader, or its answers do not get back (a firewall or route that works one way, or a leader that cannot reach it).",
      fix: [
        `curl -k https://${address}/1.0   # from the leader's machine (${
          self.raft.leader ? nameOf(self.raft.leader) : "no leader"
        }): it must answer`,
        `check firewalls and routes between the leader and ${address} in both directions`,
      ],
    });
  }

  // Clocks.
  for (const p of probes) {
    if (!p.ok) continue;
    const expected = p.sentAt + p.rttMs / 2;
    const skew = p.state.time - expected;
    if (Math.abs(skew) <= SKEW_MS + p.rttMs / 2) continue;
    problems.push({
      kind: "clock-skew",
      summary: `${p.state.name}'s clock is ${(skew / 1000).toFixed(1)} s ${
        skew > 0 ? "ahead of" : "behind"
      } ${self.name}'s`,
      cause: "Heartbeat ages, token expiry and certificates depend on the members' clocks agreeing.",
      fix: [
        `timedatectl set-ntp true   # on ${p.state.name} and ${self.name}; chronyc tracking shows the offset`,
      ],
    });
  }

  // Certificates that expire within 30 days.
  const soon = now + 30 * DAY_MS;
  const clusterExpiry = self.clusterCertExpires ? Date.parse(self.clusterCertExpires) : Infinity;
  if (clusterExpiry < soon) {
    problems.push({
      kind: "certificate-expiring",
      summary: `The cluster certificate expires ${new Date(clusterExpiry).toISOString()}`,
      cause: "Members and clients stop trusting each other when it expires.",
      fix: ["lxc cluster update-certificate NEW_CERT.pem NEW_KEY.pem"],
    });
  }
  for (const s of reached.values()) {
    const e = s.serverCertExpires ? Date.parse(s.serverCertExpires) : Infinity;
    if (e >= soon) continue;
    problems.push({
      kind: "certificate-expiring",
      summary: `${s.name}'s own certificate (server.crt) expires ${new Date(e).toISOString()}`,
      cause: "The other members know it by this certificate: once it expires they refuse its calls.",
      fix: [
        `lxc cluster remove ${s.name}; then on ${s.name}: shoald shutdown, move server.crt and server.key away, start shoald, and join again with a token from "lxc cluster add ${s.name}"`,
      ],
    });
  }

  const members = self.nodes.map((n) => {
    const p = probes.find((x) => x.address === n.address);
    return {
      name: n.name,
      address: n.address,
      reachable: n.address === self.address || (p?.ok ?? false),
      ...(p && !p.ok ? { error: p.error } : {}),
    };
  });
  const leader = self.raft.leader ? nameOf(self.raft.leader) : "none";
  const healthy = problems.length === 0;
  const summary = healthy
    ? `The cluster is healthy: ${members.length} members online, ${voters.length} database voters, leader ${leader}, schema ${self.schema} with ${self.api} API extensions everywhere`
    : `${problems.length} problem${
      problems.length === 1 ? "" : "s"
    } found in the cluster (${members.length} members, ${
      members.filter((m) => m.reachable).length
    } reachable from ${self.name})`;
  return { healthy, summary, members, problems };
}

/** How long one member may take to answer the doctor. */
const PROBE_TIMEOUT_MS = 3_000;

/** Asks every member this member knows of (rows and raft_nodes) for its state, and diagnoses. */
export async function runDoctor(
  self: Self,
  heartbeats: Heartbeats,
  gate: UpgradeGate,
): Promise<DoctorReport> {
  const mine = await memberState(self, heartbeats, gate);
  const addresses = new Set<string>([
    ...mine.nodes.map((n) => n.address),
    ...mine.raftNodes.map((r) => r.address),
  ]);
  addresses.delete(mine.address);
  addresses.delete("");
  const probes = await Promise.all([...addresses].map(async (address): Promise<Probe> => {
    const sentAt = Date.now();
    try {
      const state = await callMember(
        self.clients.get(address),
        MEMBER_CALLS.memberState,
        {},
        AbortSignal.timeout(PROBE_TIMEOUT_MS),
      );
      return { address, ok: true, state, sentAt, rttMs: Date.now() - sentAt };
    } catch (e) {
      return { address, ok: false, error: errorMessage(e) };
    }
  }));
  return diagnose(mine, probes, Date.now());
}
