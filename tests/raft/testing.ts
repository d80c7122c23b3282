/**
 * An in-memory cluster of RawNodes for tests: a deterministic message queue with partitions
 * and drops, each member's Ready handled in the documented order, and a state machine that
 * records the data of applied entries. Pure, like lib/raft itself; used by lib/raft's unit tests
 * and the tests here (interaction, fuzz).
 * @module
 */
import type {
  Config,
  ConfState,
  Entry,
  Message,
  NodeId,
  ReadState,
  Ready,
  Snapshot,
} from "../../lib/raft/types.ts";
import { RawNode } from "../../lib/raft/rawnode.ts";
import { MemoryStorage } from "../../lib/raft/storage_memory.ts";
import { parseConfChange } from "../../lib/raft/confchange.ts";

/** Tests draw election timeouts reproducibly from the project's one seeded PRNG. */
export { seededRng } from "../../lib/util/rng.ts";
import { seededRng } from "../../lib/util/rng.ts";

export interface Member {
  id: NodeId;
  rn: RawNode;
  storage: MemoryStorage;
  /** Data of applied normal entries, in order (snapshots restore it). */
  applied: string[];
  appliedIndex: number;
  readStates: ReadState[];
  config: Config;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export type ConfigOptions = Partial<Omit<Config, "id" | "storage" | "rng">>;

export class TestNet {
  members = new Map<NodeId, Member>();
  queue: Message[] = [];
  /** Pairs "a-b" (one way a to b) whose messages are dropped. */
  private cut = new Set<string>();
  /** Every message ever delivered, for assertions on traffic. */
  delivered: Message[] = [];
  /** Observers, for golden tests that print what happens. */
  onReady?: (id: NodeId, rd: Ready) => void;
  onDeliver?: (m: Message, dropped: boolean) => void;
  private seed: number;

  constructor(readonly options: ConfigOptions = {}, seed = 1) {
    this.seed = seed;
  }

  /** Adds a member with a fresh storage whose bootstrap configuration is `conf` (empty: a joiner). */
  add(id: NodeId, conf?: ConfState, opts: ConfigOptions = {}): Member {
    const storage = new MemoryStorage(conf);
    if (conf && conf.voters.length > 0) {
      // Bootstrap as a snapshot at index 1, so joiners catch up from a snapshot.
      storage.applySnapshot({ meta: { index: 1, term: 1, conf }, data: enc.encode("[]") });
      storage.setHardState({ term: 1, vote: 0, commit: 1 });
    }
    return this.start(id, storage, opts);
  }

  /** Starts (or restarts after a crash) member `id` on `storage`. */
  start(id: NodeId, storage: MemoryStorage, opts: ConfigOptions = {}, appliedIndex?: number): Member {
    const config: Config = {
      electionTick: 10,
      heartbeatTick: 1,
      ...this.options,
      ...opts,
      id,
      storage,
      rng: seededRng(this.seed * 1000 + id),
    };
    const snap = storage.snapshot();
    const m: Member = {
      id,
      rn: new RawNode({ ...config, applied: appliedIndex ?? snap.meta.index }),
      storage,
      applied: snap.meta.index > 0 ? JSON.parse(dec.decode(snap.data)) : [],
      appliedIndex: snap.meta.index,
      readStates: [],
      config,
    };
    this.members.set(id, m);
    return m;
  }

  /** Crash: forget everything not in storage; restart from the snapshot (entries re-applied). */
  restart(id: NodeId): Member {
    const old = this.members.get(id)!;
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
    // The state machine restarts from the snapshot, so the configuration does too; the conf
    // entries after it are applied again.
    old.storage.setConfState(old.storage.snapshot().meta.conf);
    return this.start(id, old.storage, old.config);
  }

  get(id: NodeId): Member {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  /** Handles one Ready of `id` in the documented order; false when it had none. */
  processReady(id: NodeId): boolean {
    const m = this.get(id);
    if (!m.rn.hasReady()) return false;
    const rd = m.rn.ready();
    this.onReady?.(id, rd);
    if (rd.snapshot) m.storage.applySnapshot(rd.snapshot);
    m.storage.append(rd.entries);
    if (rd.hardState) m.storage.setHardState(rd.hardState);
    this.queue.push(...rd.messages);
    if (rd.snapshot) this.applySnapshot(m, rd.snapshot);
    for (const e of rd.committedEntries) this.apply(m, e);
    m.readStates.push(...rd.readStates);
    m.rn.advance(rd);
    return true;
  }

  private applySnapshot(m: Member, s: Snapshot): void {
    m.applied = JSON.parse(dec.decode(s.data));
    m.appliedIndex = s.meta.index;
  }

  private apply(m: Member, e: Entry): void {
    if (e.type === "conf") {
      const cc = parseConfChange(e.data);
      if (cc) m.storage.setConfState(m.rn.applyConfChange(cc));
    } else if (e.data !== "") {
      m.applied.push(e.data);
    }
    m.appliedIndex = e.index;
  }

  /** Takes a snapshot of `id`'s state machine at its applied index and compacts its log to it. */
  compact(id: NodeId): void {
    const m = this.get(id);
    m.storage.createSnapshot(m.appliedIndex, m.rn.confState(), enc.encode(JSON.stringify(m.applied)));
    m.storage.compact(m.appliedIndex);
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.has(`${from}-${to}`);
  }

  /** Cuts `group` off from everyone else, both ways. */
  isolate(...group: NodeId[]): void {
    for (const a of group) {
      for (const b of this.members.keys()) {
        if (group.includes(b)) continue;
        this.cut.add(`${a}-${b}`);
        this.cut.add(`${b}-${a}`);
      }
    }
  }

  cutOneWay(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}-${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Delivers every queued message (dropping cut ones); returns how many were delivered. */
  deliver(filter?: (m: Message) => boolean): number {
    const batch = this.queue;
    this.queue = [];
    let n = 0;
    for (const msg of batch) {
      if (filter && !filter(msg)) {
        this.queue.push(msg);
        continue;
      }
      const to = this.members.get(msg.to);
      if (!to || this.isCut(msg.from, msg.to)) {
        this.onDeliver?.(msg, true);
        continue;
      }
      this.onDeliver?.(msg, false);
      this.delivered.push(msg);
      to.rn.step(msg);
      n++;
    }
    return n;
  }

  /** Processes Readys and delivers messages until nothing moves. */
  stabilize(maxRounds = 1000): void {
    for (let i = 0; i < maxRounds; i++) {
      let moved = false;
      for (const id of this.members.keys()) moved = this.processReady(id) || moved;
      moved = this.deliver() > 0 || moved;
      if (!moved) return;
    }
    throw new Error(`cluster did not stabilize within ${maxRounds} rounds`);
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) this.get(id).rn.tick();
  }

  /** Ticks everyone once and stabilizes, `n` times. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const m of this.members.values()) m.rn.tick();
      this.stabilize();
    }
  }

  /** The member that is leader with the highest term, if any. */
  leader(): Member | undefined {
    let best: Member | undefined;
    for (const m of this.members.values()) {
      const s = m.rn.status();
      if (s.role === "leader" && (!best || s.term > best.rn.status().term)) best = m;
    }
    return best;
  }

  /** Campaigns `id` and stabilizes. */
  elect(id: NodeId): Member {
    this.get(id).rn.campaign();
    this.stabilize();
    return this.get(id);
  }
}
