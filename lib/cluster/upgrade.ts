/**
 * Rolling upgrades (LXD's upgrade gate): every member records its global schema version and API
 * extension count in its `nodes` row at start. A member newer than some other member waits in
 * the Blocked state (serving only what lets the others show it) until the last one is upgraded;
 * a member older than every other member is refused, since the cluster has moved past it.
 * @module
 */
import { defineTx, GLOBAL_SCHEMA_VERSION, listNodes, type NodeRow, updateGlobalSchema } from "../db/mod.ts";
import { errorMessage, sleep, StatusError } from "../util/mod.ts";
import type { Self } from "./self.ts";

/** What a member runs: its global schema version and its API extension count. */
export interface Versions {
  schema: number;
  api: number;
}

/** Reads a non-negative integer test knob (as LXD's test suite bumps API extensions). */
function bump(name: string): number {
  const v = Number(Deno.env.get(name) ?? "0");
  return Number.isInteger(v) && v > 0 ? v : 0;
}

/**
 * The global schema version this member runs: the build's, plus SHOAL_ARTIFICIALLY_BUMP_SCHEMA
 * (a test knob: pretend a newer build without writing a schema update).
 */
export function schemaVersion(): number {
  return GLOBAL_SCHEMA_VERSION + bump("SHOAL_ARTIFICIALLY_BUMP_SCHEMA");
}

/** The API extension count this member reports: the build's, plus LXD's own test knob. */
export function apiExtensionCount(base: number): number {
  return base + bump("LXD_ARTIFICIALLY_BUMP_API_EXTENSIONS");
}

/**
 * PURE. How version a compares to b: 0 alike, 1 newer, -1 older, NaN when one is newer in schema
 * and older in API (two builds that cannot be ordered: neither may wait for the other).
 */
export function compareVersions(a: Versions, b: Versions): number {
  if (a.schema === b.schema && a.api === b.api) return 0;
  if (a.schema >= b.schema && a.api >= b.api) return 1;
  if (a.schema <= b.schema && a.api <= b.api) return -1;
  return NaN;
}

/** A member's recorded versions. */
export function versionsOf(n: Pick<NodeRow, "schema" | "api_extensions">): Versions {
  return { schema: n.schema, api: n.api_extensions };
}

function describe(v: Versions): string {
  return `schema ${v.schema}, ${v.api} API extensions`;
}

/**
 * PURE. Why the member `self` must wait (the members that still run an older version), or null.
 * What `lxc cluster list` shows as BLOCKED, on every member alike.
 */
export function blockedReason(
  self: Pick<NodeRow, "id" | "schema" | "api_extensions">,
  nodes: Pick<NodeRow, "id" | "name" | "schema" | "api_extensions">[],
): string | null {
  const mine = versionsOf(self);
  const older = nodes.filter((n) => n.id !== self.id && compareVersions(mine, versionsOf(n)) > 0);
  if (older.length === 0) return null;
  const list = older.map((n) => `${n.name} (${describe(versionsOf(n))})`).join(", ");
  return `Waiting for other cluster members to be upgraded: ${list} still run an older version than this member (${
    describe(mine)
  })`;
}

/**
 * PURE. Why a member with versions `mine` may not start at all, or null: every other member runs
 * a newer version (the cluster has been upgraded past it), or one cannot be ordered with it.
 */
export function refusalReason(mine: Versions, others: Pick<NodeRow, "name" | "schema" | "api_extensions">[]) {
  const odd = others.find((n) => Number.isNaN(compareVersions(mine, versionsOf(n))));
  if (odd) {
    return `This member (${describe(mine)}) and cluster member ${odd.name} (${
      describe(versionsOf(odd))
    }) run versions that cannot be ordered: install the same shoal version on both`;
  }
  if (others.length === 0 || !others.every((n) => compareVersions(mine, versionsOf(n)) < 0)) return null;
  const theirs = versionsOf(others[0]!);
  return `This member's version is behind the cluster: it runs ${describe(mine)}, the other members run ${
    describe(theirs)
  }. Upgrade shoal on this member to the version the others run, then start it again`;
}

/** Records a member's versions in its row (at start; a joiner's row is written by accept). */
export const recordVersions = defineTx(
  "cluster.record-versions",
  (tx, a: { id: number; schema: number; api: number }): void => {
    tx.exec("UPDATE nodes SET schema = ?, api_extensions = ? WHERE id = ?", a.schema, a.api, a.id);
  },
);

/** How often a blocked member looks at the others' versions: well within one heartbeat. */
const POLL_MS = 100;

/** The gate's state: open, blocked (with why), or not yet decided. */
export type GateState =
  | { kind: "open" }
  | { kind: "blocked"; reason: string };

/**
 * This member's upgrade gate. `check()` at start decides from the member's own copy of the
 * database (available without quorum; versions only go up, so an old copy can only make this
 * member wait longer, never serve too early) and records this member's versions through Raft.
 * While blocked it looks again every POLL_MS and opens by itself once no member is older.
 */
export class UpgradeGate {
  #self: Self;
  /** Until check() has looked, nothing but member traffic is served. */
  #state: GateState = {
    kind: "blocked",
    reason: "This member is starting: it compares its version with the other members",
  };
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;
  /** Runs once when a blocked member opens (the daemon starts what it held back). */
  onOpen: () => void = () => {};

  constructor(self: Self) {
    this.#self = self;
  }

  get versions(): Versions {
    return { schema: schemaVersion(), api: this.#self.apiExtensions };
  }

  get state(): GateState {
    return this.#state;
  }

  /** The error a blocked member answers API requests with, or null when it serves. */
  blockedError(): StatusError | null {
    const s = this.#state;
    return s.kind === "blocked" ? new StatusError(503, s.reason) : null;
  }

  /**
   * Decides at start: throws when this member is older than the cluster; blocks it when it is
   * newer than some member; records its versions either way (in the background when the
   * database cannot take the write yet).
   */
  async check(): Promise<void> {
    const self = this.#self;
    this.#state = { kind: "open" };
    if (!self.clustered()) return;
    const nodes = self.stale(listNodes, []);
    const id = self.gateway.raftId;
    const others = nodes.filter((n) => n.id !== id);
    const refusal = refusalReason(this.versions, others);
    if (refusal) throw new StatusError(500, refusal);
    const state = this.#evaluate(nodes);
    if (state.kind === "blocked") {
      self.log.warn("Waiting for other cluster members to be upgraded", { reason: state.reason });
      this.#timer = setInterval(() => this.#poll(), POLL_MS);
    }
    // Wait a little for the record, so that a member just upgraded is known as such when it
    // reports ready (the blocked ones then resume within their next look).
    const recorded = this.#record();
    await Promise.race([recorded, sleep(5_000)]);
  }

  async #record(): Promise<void> {
    const self = this.#self;
    const v = this.versions;
    for (let attempt = 0; !this.#stopped; attempt++) {
      try {
        // By Raft id (the row's id): right after `shoald cluster edit` the row may still
        // have the old address.
        await self.db.run(recordVersions, { id: self.gateway.raftId, schema: v.schema, api: v.api });
        return;
      } catch (e) {
        if (attempt % 20 === 0) {
          self.log.warn("Cannot record this member's version yet", { err: errorMessage(e) });
        }
        await sleep(500);
      }
    }
  }

  /** Blocked or open, from the rows as they are; this member's own row counts as recorded now. */
  #evaluate(nodes: NodeRow[]): GateState {
    const v = this.versions;
    const reason = blockedReason(
      { id: this.#self.gateway.raftId, schema: v.schema, api_extensions: v.api },
      nodes,
    );
    this.#state = reason ? { kind: "blocked", reason } : { kind: "open" };
    return this.#state;
  }

  #poll(): void {
    if (this.#stopped) return;
    if (this.#evaluate(this.#self.stale(listNodes, [])).kind !== "open") return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#self.log.info("Every cluster member is upgraded: this member serves again");
    // A real schema update of this build waited for every member; it runs now (once, on the
    // leader's log: the others find nothing left to do).
    void this.#self.db.run(updateGlobalSchema, {}).catch((e) =>
      this.#self.log.warn("Schema update after the upgrade failed", { err: errorMessage(e) })
    );
    this.onOpen();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }
}
