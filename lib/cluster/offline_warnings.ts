/**
 * The leader's "Offline cluster member" warnings (LXD 5.0.2 raises them from its heartbeats):
 * one per member that stops answering, resolved when it answers again. LXD writes one on every
 * failed heartbeat (count goes up each round); shoal writes only when a member's state changes,
 * so a long outage costs no replicated write per second.
 */
import { ENTITY_TYPE, listNodes, openWarnings, resolveWarning, upsertWarning } from "../db/mod.ts";
import { errorMessage } from "../util/mod.ts";
import type { Heartbeats } from "./heartbeat.ts";
import type { Self } from "./self.ts";

export class OfflineWarnings {
  #self: Self;
  #heartbeats: Heartbeats;
  #busy = false;

  constructor(self: Self, heartbeats: Heartbeats) {
    this.#self = self;
    this.#heartbeats = heartbeats;
  }

  /** After a leader's heartbeat round: raise or resolve what changed. */
  run(): void {
    if (this.#busy) return;
    this.#busy = true;
    this.#check().catch((e) =>
      this.#self.log.warn("Failed to update offline member warnings", {
        err: errorMessage(e),
      })
    ).finally(() => this.#busy = false);
  }

  async #check(): Promise<void> {
    const self = this.#self;
    const nodes = self.db.readStale(listNodes);
    const open = new Set(
      self.db.readStale((tx) => openWarnings(tx, "offlineClusterMember", ENTITY_TYPE.node)),
    );
    const me = self.address();
    for (const n of nodes) {
      if (n.address === me) continue;
      const live = this.#heartbeats.of(n.address, true);
      const entity = { type: ENTITY_TYPE.node, id: n.id };
      if (!live.online && !open.has(n.id)) {
        await self.db.run(upsertWarning, {
          member: self.name(),
          type: "offlineClusterMember",
          entity,
          message: `Member "${n.name}" (${n.address}) has not answered heartbeats since ${
            live.lastSeen || "it joined"
          }`,
          uuid: crypto.randomUUID(),
        });
      } else if (live.online && open.has(n.id)) {
        await self.db.run(resolveWarning, { type: "offlineClusterMember", entity });
      }
    }
  }
}
