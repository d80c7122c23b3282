/**
 * shoal's Raft core: a pure, deterministic state machine in the shape of etcd-raft's RawNode.
 * It implements the algorithm only; disk, network, timers and the state machine belong to the
 * driver (lib/driver). Inputs are method calls (`tick`, `step`, `propose`, ...); outputs come
 * out in a `Ready`. No I/O, clock or randomness of its own: time is `tick()`, and the one
 * source of randomness is `config.rng`.
 *
 * The driver's loop:
 *
 * 1. Call `tick()` every tick interval and `step(m)` for every message from a peer.
 * 2. When `hasReady()`, take `rd = ready()`, then:
 *    1. **Persist**: write `rd.hardState`, `rd.entries` (replacing any conflicting suffix) and
 *       `rd.snapshot` to stable storage in one synced write.
 *    2. **Send**: only then send `rd.messages` (a vote or an append acknowledgement in them
 *       promises what step 1 made durable). A `snap` message carries a snapshot to stream.
 *    3. **Apply**: apply `rd.snapshot` (if any), then `rd.committedEntries` in order. For a
 *       `conf` entry call `applyConfChange(JSON.parse(e.data))` and persist the ConfState it
 *       returns with the applied index. Hand each of `rd.readStates` to its reader once the
 *       state machine has applied its `index`.
 *    4. **Advance**: call `advance(rd)`. Only one Ready is outstanding at a time.
 * 3. Proposals go to the leader: `propose(data)` returns `{ok:false, reason:"not-leader",
 *    leader}` elsewhere, so the caller can forward to `leader`.
 *
 * Bootstrap: give the first members a Storage whose `initialState().confState` is the initial
 * configuration, preferably as a snapshot at index 1 so that members that join later catch up
 * by snapshot. A member that joins starts with an empty configuration: it never campaigns and
 * takes the log (or a snapshot) from the leader once the leader has added it.
 *
 * Compaction is the driver's: take a snapshot of the state machine at an applied index, then
 * drop the log up to it (see MemoryStorage.createSnapshot and compact).
 * @module
 */
export * from "./types.ts";
export { RawNode } from "./rawnode.ts";
export { MemoryStorage } from "./storage_memory.ts";
export { applyToConf, checkConfChange, cloneConf, parseConfChange, roleOf } from "./confchange.ts";
export type { MemberRole } from "./confchange.ts";
export { committedIndex, quorumSize, voteResult } from "./quorum.ts";
export {
  describeConfState,
  describeEntries,
  describeEntry,
  describeHardState,
  describeMessage,
  describeReady,
  describeSnapshot,
  describeSoftState,
  describeStatus,
} from "./describe.ts";
