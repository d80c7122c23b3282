/**
 * The address patch `shoald cluster edit` leaves behind (LXD's patch.global.sql): the members
 * whose address changed, applied to the global `nodes` table through Raft once this member can
 * write after its start. Until then the gateway reads the patched addresses, so that it does not
 * put the old ones back into raft_nodes from the not yet patched rows.
 * @module
 */
import { defineTx } from "../db/mod.ts";
import { errorMessage, sleep } from "../util/mod.ts";
import { type AddressChange, clearPatch, readPatch } from "./recover.ts";
import type { Self } from "./self.ts";

/** Moves members to their new addresses (ids are Raft ids; a second run changes nothing). */
export const applyAddressChanges = defineTx(
  "cluster.apply-address-changes",
  (tx, a: { changes: { id: number; to: string }[] }): number => {
    let n = 0;
    for (const c of a.changes) n += tx.exec("UPDATE nodes SET address = ? WHERE id = ?", c.to, c.id).changes;
    return n;
  },
);

/** The pending patch of one member's database directory. */
export class AddressPatch {
  #database: string;
  #changes: AddressChange[];

  constructor(database: string) {
    this.#database = database;
    this.#changes = readPatch({ database });
  }

  get pending(): AddressChange[] {
    return [...this.#changes];
  }

  /** A member's address as the patch says it is now (the row's otherwise). */
  address(id: number, fromRow: string): string {
    return this.#changes.find((c) => c.id === id)?.to ?? fromRow;
  }

  /** Applies the patch through Raft, retrying until the database takes it; then removes it. */
  async apply(self: Self, stopped: () => boolean): Promise<void> {
    if (this.#changes.length === 0) return;
    for (let attempt = 0; !stopped(); attempt++) {
      try {
        const n = await self.db.run(applyAddressChanges, {
          changes: this.#changes.map((c) => ({ id: c.id, to: c.to })),
        });
        self.log.info("Applied the address changes of cluster edit", {
          changes: this.#changes.map((c) => `${c.name || c.id}: ${c.from} -> ${c.to}`).join(", "),
          rows: n,
        });
        clearPatch({ database: this.#database });
        this.#changes = [];
        self.gateway.refreshRaftNodes();
        return;
      } catch (e) {
        if (attempt % 20 === 0) {
          self.log.warn("Cannot apply the address changes yet", { err: errorMessage(e) });
        }
        await sleep(250);
      }
    }
  }
}
