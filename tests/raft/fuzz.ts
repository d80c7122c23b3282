/**
 * A small randomized safety check of the Raft core, beside the real simulator (tests/raft/sim):
 * random delivery order, drops, duplicates, partitions, crashes (restart from storage), log
 * compaction and membership changes, with election safety, leader completeness, state machine
 * safety and read-index freshness checked after every step. Used by tests to show the core is
 * safe and that each planted bug is caught.
 * @module
 */
import { seededRng, TestNet } from "./testing.ts";
import type { Bugs, ConfChange, Entry, NodeId } from "../../lib/raft/mod.ts";

export interface FuzzOptions {
  seed: number;
  steps?: number;
  nodes?: number;
  bugs?: Bugs;
  preVote?: boolean;
  checkQuorum?: boolean;
  /** Check that a proposal commits once faults heal (default true). */
  liveness?: boolean;
}

export interface FuzzResult {
  violation?: string;
  /** Normal entries applied by the member that applied most. */
  applied: number;
  leaders: number;
  proposals: number;
}

export function fuzz(o: FuzzOptions): FuzzResult {
  const rng = seededRng(o.seed);
  const pick = <T>(xs: readonly T[]): T => {
    const x = xs[Math.floor(rng() * xs.length)];
    if (x === undefined) throw new Error("pick from an empty list");
    return x;
  };
  const n = o.nodes ?? 5;
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  const conf = { voters: ids.slice(0, Math.min(n, 3)), standbys: ids.slice(3, 4), spares: ids.slice(4) };
  const net = new TestNet({
    electionTick: 10,
    heartbeatTick: 2,
    preVote: o.preVote ?? rng() < 0.5,
    checkQuorum: o.checkQuorum ?? rng() < 0.5,
    maxSizePerMsg: rng() < 0.5 ? 0 : 64,
    maxInflightMsgs: 1 + Math.floor(rng() * 4),
    bugs: o.bugs,
  }, o.seed);
  for (const id of ids) net.add(id, conf);

  // Ground truth gathered as the run goes.
  const leaderOfTerm = new Map<number, NodeId>();
  const appliedAt = new Map<number, string>(); // index -> "term/data" of the entry applied there
  const committedLog = new Map<number, string>(); // index -> entry known committed (applied by someone)
  let maxCommitted = 0; // highest index applied by anyone: a committed write a later read must see
  const reads = new Map<string, number>(); // ctx -> maxCommitted when the read was asked
  let readSeq = 0;
  let proposals = 0;
  const key = (e: Entry) => `${e.term}/${e.type}/${e.data}`;

  const entryAt = (id: NodeId, i: number): Entry | undefined => {
    const s = net.get(id).storage;
    if (i < s.firstIndex() || i > s.lastIndex()) return undefined;
    return s.entries(i, i + 1)[0];
  };

  const check = (): string | undefined => {
    for (const m of net.members.values()) {
      const s = m.rn.status();
      if (s.role !== "leader") continue;
      const prev = leaderOfTerm.get(s.term);
      if (prev !== undefined && prev !== m.id) {
        return `election safety: ${prev} and ${m.id} are both leaders of term ${s.term}`;
      }
      if (prev === undefined) {
        leaderOfTerm.set(s.term, m.id);
        // Leader completeness: every committed entry is in the new leader's log.
        for (const [i, k] of committedLog) {
          const e = entryAt(m.id, i);
          if (i >= m.storage.firstIndex() && (!e || key(e) !== k)) {
            return `leader completeness: leader ${m.id} of term ${s.term} lacks committed entry ${i} (${k})`;
          }
        }
      }
    }
    return undefined;
  };

  // Observe applied entries and reads by wrapping the net's Ready handling.
  const origProcess = net.processReady.bind(net);
  let violation: string | undefined;
  net.processReady = (id: NodeId) => {
    const m = net.get(id);
    const before = m.readStates.length;
    const storage = m.storage;
    const rn = m.rn;
    if (!rn.hasReady()) return false;
    // Peek at what will be applied: wrap ready() for this one call.
    const realReady = rn.ready.bind(rn);
    rn.ready = () => {
      const rd = realReady();
      for (const e of rd.committedEntries) {
        const k = key(e);
        const had = appliedAt.get(e.index);
        if (had !== undefined && had !== k && !violation) {
          violation = `state machine safety: member ${id} applied ${k} at ${e.index}, another applied ${had}`;
        }
        appliedAt.set(e.index, k);
        committedLog.set(e.index, k);
        if (e.index > maxCommitted) maxCommitted = e.index;
      }
      return rd;
    };
    const r = origProcess(id);
    rn.ready = realReady;
    for (const rs of m.readStates.slice(before)) {
      const need = reads.get(rs.ctx);
      if (need !== undefined && rs.index < need && !violation) {
        violation =
          `stale read: ${rs.ctx} served at index ${rs.index} on ${id}, but ${need} was applied before it was asked`;
      }
    }
    void storage;
    return r;
  };

  try {
    run();
  } catch (err) {
    violation ??= `error: ${err instanceof Error ? err.message : String(err)}`;
  }
  let applied = 0;
  for (const m of net.members.values()) applied = Math.max(applied, m.applied.length);
  return { violation, applied, leaders: leaderOfTerm.size, proposals };

  function run(): void {
    const steps = o.steps ?? 3000;
    for (let step = 0; step < steps && !violation; step++) {
      const x = rng();
      if (x < 0.35) {
        if (net.queue.length > 0) {
          const i = Math.floor(rng() * net.queue.length);
          const msg = net.queue[i];
          const y = rng();
          if (y < 0.1) net.queue.splice(i, 1); // dropped
          else if (y < 0.15) { // duplicated: deliver a copy, keep the original queued
            const to = net.members.get(msg!.to);
            if (to && !net.isCut(msg!.from, msg!.to)) to.rn.step(structuredClone(msg)!);
          } else {
            net.queue.splice(i, 1);
            const to = net.members.get(msg!.to);
            if (to && !net.isCut(msg!.from, msg!.to)) to.rn.step(msg!);
          }
        }
      } else if (x < 0.6) {
        net.processReady(pick(ids));
      } else if (x < 0.85) {
        net.tick(pick(ids));
      } else if (x < 0.92) {
        const m = net.get(pick(ids));
        if (m.rn.propose(`p${proposals}`).ok) proposals++;
      } else if (x < 0.94) {
        const m = net.get(pick(ids));
        const ctx = `r${readSeq++}`;
        reads.set(ctx, maxCommitted);
        m.rn.readIndex(ctx);
      } else if (x < 0.955) {
        net.restart(pick(ids));
      } else if (x < 0.965) {
        if (rng() < 0.5) net.heal();
        else net.isolate(pick(ids));
      } else if (x < 0.97) {
        const a = pick(ids), b = pick(ids);
        if (a !== b) net.cutOneWay(a, b);
      } else if (x < 0.975) {
        const id = pick(ids);
        const m = net.get(id);
        // Only what is committed is compacted (under apply-before-commit, applied runs ahead).
        if (m.appliedIndex > m.storage.snapshot().meta.index && m.appliedIndex <= m.rn.status().commit) {
          net.compact(id);
        }
      } else if (x < 0.98) {
        const m = net.get(pick(ids));
        const target = pick(ids);
        const cc: ConfChange = pick([
          { type: "add-voter", id: target },
          { type: "add-standby", id: target },
          { type: "add-spare", id: target },
          { type: "remove", id: target },
        ]);
        m.rn.proposeConfChange(cc);
      } else if (x < 0.985) {
        net.get(pick(ids)).rn.transferLeader(pick(ids));
      }
      violation ??= check();
    }
    if (!violation && (o.liveness ?? true)) {
      // Liveness: once faults heal, a leader emerges and a proposal commits in bounded ticks.
      net.heal();
      let done = false;
      let proposed: { id: NodeId; term: number } | undefined;
      for (let t = 0; t < 300 && !done && !violation; t++) {
        net.tickAll(1);
        const l = net.leader();
        if (!l) continue;
        const term = l.rn.status().term;
        if (l.applied.includes("final")) done = true;
        else if (!proposed || proposed.id !== l.id || proposed.term !== term) {
          // First try, or the proposal was lost with a leader change: propose (again).
          if (l.rn.propose("final").ok) proposed = { id: l.id, term };
        }
        violation ??= check();
      }
      if (!done && !violation) violation = "liveness: no proposal committed within 300 ticks after healing";
    }
  }
}
