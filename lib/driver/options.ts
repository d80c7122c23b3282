/**
 * What a driver is made of (storage, state machine, transport, clock) and its timing.
 * @module
 */
import type { Config, ConfState, Message } from "../raft/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { StateMachine } from "./state_machine.ts";
import type { LogStorage } from "./log_storage.ts";
import type { Clock } from "./clock.ts";

/** Timing and sizing of a driver. */
export interface DriverOptions<R> {
  id: number;
  storage: LogStorage;
  /** Its `applyEntry` results are what a proposal resolves with. */
  fsm: StateMachine<R>;
  log: Logger;
  /** The system clock unless given (the simulator's is virtual). */
  clock?: Clock;
  /** Sends messages to peers (the transport); never blocks. */
  send: (messages: Message[]) => void;
  /** Milliseconds per Raft tick. */
  tickMs?: number;
  /** Ticks without a leader's heartbeat before an election (randomized up to twice this). */
  electionTick?: number;
  heartbeatTick?: number;
  /** Take a snapshot after this many applied entries, keeping `keepEntries` for laggards. */
  snapshotEvery?: number;
  keepEntries?: number;
  /** Core settings other than the defaults (check-quorum, pre-vote, flow control): the
   *  simulator varies them per seed, and plants bugs through them. */
  raft?: Partial<
    Pick<
      Config,
      "checkQuorum" | "preVote" | "maxSizePerMsg" | "maxInflightMsgs" | "maxInflightBytes" | "bugs"
    >
  >;
  /** Seed of the core's election timeouts. */
  seed?: number;
  /** How long a proposal may wait for its entry to apply, and a read for its read index. */
  proposalTimeoutMs?: number;
  readTimeoutMs?: number;
  /** Called after a membership change is applied (and at start with the current one). */
  onConfState?: (conf: ConfState) => void;
  /** Called when the leader changes (0: none known). */
  onLeader?: (leader: number, term: number) => void;
  /** Called once when a failure stopped the driver (a write that failed), after it stopped. */
  onFail?: (e: Error) => void;
}
