import type { Client } from "../client/mod.ts";
import { listNodes } from "../db/mod.ts";
import { errorMessage, StatusError } from "../util/mod.ts";
import type { Heartbeats } from "./heartbeat.ts";
import type { Self } from "./self.ts";

/** One member as a cluster-wide change sees it. */
export interface Participant {
  name: string;
  address: string;
  /** This member itself (its part runs in process, not over HTTPS). */
  self: boolean;
}

/** What each member's part of a change gave back, by member name. */
export type PartResults<T> = Map<string, T>;

/**
 * LXD's NotifyAll: every member takes part in a change, so none may be offline. Returns the
 * members (this one first) or throws LXD's "peer node ADDRESS is down" (503: LXD answers 500, but
 * nothing is wrong with the request) before anything runs.
 * A member the heartbeats call offline is tried once over the wire (LXD's HasConnectivity):
 * heartbeats lag, and a live member must not fail a change.
 */
export async function allMembers(self: Self, heartbeats: Heartbeats): Promise<Participant[]> {
  const nodes = await self.db.read(listNodes);
  const here = self.address();
  const peers: Participant[] = [];
  for (const n of nodes) {
    const peer = { name: n.name, address: n.address, self: n.address === here };
    if (!peer.self && !heartbeats.isOnline(n.address)) {
      const up = await self.clients.get(n.address).request("GET", "/1.0", {
        signal: AbortSignal.timeout(2_000),
      }).then(() => true, () => false);
      if (!up) throw new StatusError(503, `peer node ${n.address} is down`);
    }
    peers.push(peer);
  }
  return peers.sort((a, b) => Number(b.self) - Number(a.self));
}

/**
 * Runs each member's part of a change (on this member in process, on the others through their
 * client), all at once. All or nothing: when a part fails, the parts that succeeded are undone
 * (newest state first is not needed: parts are independent) and the first failure is thrown,
 * in LXD's "failed to notify peer ADDRESS: ..." form for another member. LXD leaves the parts
 * that succeeded in place and marks the resource ERRORED; undoing them lets the user fix the
 * cause and run the same command again.
 */
export async function runParts<T>(
  self: Self,
  peers: Participant[],
  part: {
    local: () => Promise<T>;
    remote: (client: Client, peer: Participant) => Promise<T>;
    undoLocal: () => Promise<void>;
    undoRemote: (client: Client, peer: Participant) => Promise<void>;
  },
): Promise<PartResults<T>> {
  const settled = await Promise.allSettled(
    peers.map((p) => p.self ? part.local() : part.remote(self.clients.get(p.address), p)),
  );
  const failed = settled.findIndex((s) => s.status === "rejected");
  if (failed < 0) {
    return new Map(peers.map((p, i) => [p.name, (settled[i] as PromiseFulfilledResult<T>).value]));
  }
  await Promise.all(peers.map(async (p, i) => {
    if (settled[i]!.status !== "fulfilled") return;
    try {
      if (p.self) await part.undoLocal();
      else await part.undoRemote(self.clients.get(p.address), p);
    } catch (e) {
      self.log.error("Could not undo a member's part of a failed change", {
        member: p.name,
        err: errorMessage(e),
      });
    }
  }));
  const p = peers[failed]!;
  const e = (settled[failed] as PromiseRejectedResult).reason;
  if (p.self) throw e;
  throw new StatusError(
    e instanceof StatusError ? e.status : 500,
    `failed to notify peer ${p.address}: ${errorMessage(e)}`,
  );
}
