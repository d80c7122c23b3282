/**
 * One simulated member: its disk (survives crashes), and the volatile rest of a server (the
 * Raft core, the state machine, requests waiting on it), which a crash throws away.
 * @module
 */
import type { RawNode } from "../../../lib/raft/mod.ts";
import type { ConfState, NodeId, Role } from "../../../lib/raft/types.ts";
import { Kv } from "./kv.ts";
import type { SimStorage } from "./storage.ts";
import type { Op } from "./workload.ts";

export const TICK_MS = 10;

export class Member {
  raw: RawNode | null = null;
  kv = new Kv();
  applied = 0;
  conf: ConfState;
  role: Role = "follower";
  term = 0;
  lead: NodeId = 0;
  /** Bumped on crash and restart: events of an older life are ignored. */
  epoch = 0;
  tickMs = TICK_MS;
  stalledUntil = 0;
  /** Index → the write waiting for it to apply here (lost on crash, like a real server's). */
  waits = new Map<number, { op: Op; term: number }>();
  /** Read ctx → operation, and read states waiting for the state machine to catch up. */
  reads = new Map<string, Op>();
  readQueue: { index: number; ctx: string }[] = [];
  /** Leader completeness has been verified up to here for the current leadership. */
  completeTo = 0;
  snapEvery: number;
  /** Crash at the next seam of the Ready loop. */
  crashNow = false;

  constructor(readonly id: NodeId, readonly storage: SimStorage, conf: ConfState, snapEvery: number) {
    this.conf = conf;
    this.snapEvery = snapEvery;
  }
}
