/**
 * One simulated member: its disk (survives crashes), and the volatile rest of a server (the real
 * Driver around the Raft core, the state machine, its clock), which a crash throws away.
 * @module
 */
import type { Driver } from "../../../lib/driver/mod.ts";
import type { ConfChange, ConfState, HardState, NodeId } from "../../../lib/raft/types.ts";
import type { PersistBatch } from "../../../lib/driver/log_storage.ts";
import { Kv } from "./kv.ts";
import { SimStorage } from "./storage.ts";

export const TICK_MS = 10;

/** What applying one entry returns to its proposer through the driver. */
export interface Applied {
  /** A compare-and-set's outcome (true for everything else). */
  ok: boolean;
  term: number;
  data: string;
}

/** The simulator's view of a Ready being persisted (crash seams and checks). */
export interface DiskHooks {
  before(b: PersistBatch): void;
  after(b: PersistBatch, before: HardState): void;
  snapshotTaken(): void;
}

/** The member's disk, telling the simulator about each write. */
export class Disk extends SimStorage {
  hooks: DiskHooks | null = null;

  override persist(b: PersistBatch): void {
    this.hooks?.before(b);
    const before = this.hardState;
    super.persist(b);
    this.hooks?.after(b, before);
  }

  override saveSnapshot(s: Parameters<SimStorage["saveSnapshot"]>[0], compactTo: number): void {
    const had = this.snapshotIndex;
    super.saveSnapshot(s, compactTo);
    if (this.snapshotIndex > had) this.hooks?.snapshotTaken();
  }
}

export class Member {
  driver: Driver<Applied> | null = null;
  /** The running driver's clock; a crash kills it with every timer it set. */
  clock: { dead: boolean } | null = null;
  kv = new Kv();
  applied = 0;
  conf: ConfState;
  role: "leader" | "follower" = "follower";
  term = 0;
  lead: NodeId = 0;
  /** Bumped on crash and restart: events of an older life are ignored. */
  epoch = 0;
  tickMs = TICK_MS;
  stalledUntil = 0;
  /** Leader completeness has been verified up to here for the current leadership. */
  completeTo = 0;
  snapEvery: number;
  keepEntries: number;
  /** Crash right after the next write (a new leader, before its first messages leave). */
  crashNow = false;
  /** A membership entry applied or a snapshot installed, whose configuration the driver is about
   *  to report (`cc` null for a snapshot). */
  expectConf: { index: number; cc: ConfChange | null; conf: ConfState } | null = null;

  constructor(
    readonly id: NodeId,
    readonly storage: Disk,
    conf: ConfState,
    snapEvery: number,
    keepEntries: number,
  ) {
    this.conf = conf;
    this.snapEvery = snapEvery;
    this.keepEntries = keepEntries;
  }
}
