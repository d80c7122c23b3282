/**
 * The safety properties the simulator checks after every step, kept incrementally so that a
 * check costs about as much as the event that could break it: election safety, log matching,
 * leader completeness, state-machine safety, monotonic commit, no acknowledged write lost, and
 * the driver contract (a vote or an ack leaves only once what it promises is durable).
 * @module
 */
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  Snapshot,
} from "../../../lib/raft/types.ts";
import type { SimStorage } from "./storage.ts";

/** The direct checks of the driver contract and of Raft's rules, which `contract: false` turns off. */
export const CONTRACT_CHECKS = [
  "durable vote",
  "durable ack",
  "durable term",
  "one vote per term",
  "leader commit rule",
  "one membership change at a time",
  "applied past commit",
] as const;

/** A broken property; `check` names which one, for the report. */
export class Violation extends Error {
  constructor(readonly check: string, detail: string) {
    super(`${check}: ${detail}`);
    this.name = "Violation";
  }
}

/**
 * The configuration after `cc`, computed here from the spec rather than by the core: an id is
 * in at most one list; a change that would leave no voter, or changes nothing, is a no-op.
 */
export function expectedConf(cs: ConfState, cc: ConfChange): ConfState {
  const without = (ids: NodeId[]) => ids.filter((x) => x !== cc.id);
  const next: ConfState = {
    voters: without(cs.voters),
    standbys: without(cs.standbys),
    spares: without(cs.spares),
  };
  if (cc.type === "add-voter") next.voters.push(cc.id);
  if (cc.type === "add-standby") next.standbys.push(cc.id);
  if (cc.type === "add-spare") next.spares.push(cc.id);
  if (next.voters.length === 0) return cs;
  return next;
}

const confKey = (c: ConfState) =>
  [c.voters, c.standbys, c.spares].map((l) => [...l].sort((a, b) => a - b).join(",")).join(" | ");

interface Fact {
  term: number;
  data: string;
}

const same = (a: Fact, b: { term: number; data: string }) => a.term === b.term && a.data === b.data;
const short = (s: string) => (s.length > 60 ? s.slice(0, 57) + "..." : s);

export class Invariants {
  /** `contract`: also check the driver contract and the Figure 8 rule directly. Off, only the
   *  end-to-end properties (the paper's invariants, acknowledged writes) remain, which shows
   *  what they catch on their own. */
  constructor(private readonly contract = true) {}

  private leaders = new Map<number, NodeId>();
  private entries = new Map<string, { type: string; data: string; prev: number }>();
  /** What was committed at each index, first seen on the member whose commit covered it. */
  private committed: (Fact | undefined)[] = [];
  /** An upper bound on the term in which each index was committed (exact when a leader saw it first). */
  private commitTerm: number[] = [];
  private applied: (Fact | undefined)[] = [];
  private acked = new Map<number, Fact & { id: string }>();
  leadersElected = 0;
  /** Commits a leader made onto an entry of an older term (only ever non-zero with the check off). */
  oldTermCommits = 0;

  /** Election safety: at most one leader per term, ever. */
  leader(id: NodeId, term: number): void {
    const other = this.leaders.get(term);
    if (other !== undefined && other !== id) {
      throw new Violation("election safety", `members ${other} and ${id} were both leader in term ${term}`);
    }
    if (other === undefined) this.leadersElected++;
    this.leaders.set(term, id);
  }

  /** Log matching: one (index, term) names one entry, and the same previous term. */
  appended(id: NodeId, entries: Entry[], storage: SimStorage): void {
    for (const e of entries) {
      if (e.index < storage.firstIndex()) continue;
      const prev = storage.term(e.index - 1);
      const key = `${e.index}/${e.term}`;
      const seen = this.entries.get(key);
      if (seen === undefined) {
        this.entries.set(key, { type: e.type, data: e.data, prev });
      } else if (seen.data !== e.data || seen.type !== e.type || seen.prev !== prev) {
        throw new Violation(
          "log matching",
          `member ${id} holds entry ${key} ${short(e.data)} after term ${prev}, ` +
            `another holds ${short(seen.data)} after term ${seen.prev}`,
        );
      }
    }
  }

  /**
   * A member's durable commit index moved from `from` to `hs.commit`: it never goes back, never
   * passes the log, and what it covers agrees with what any other member committed.
   */
  commitAdvanced(id: NodeId, from: number, hs: HardState, storage: SimStorage, leaderTerm: number): void {
    if (hs.commit < from) {
      throw new Violation("monotonic commit", `member ${id} commit went from ${from} back to ${hs.commit}`);
    }
    if (hs.commit > storage.lastIndex()) {
      throw new Violation(
        "monotonic commit",
        `member ${id} commits ${hs.commit} past its last index ${storage.lastIndex()}`,
      );
    }
    if (leaderTerm > 0 && hs.commit > from && storage.term(hs.commit) !== leaderTerm) this.oldTermCommits++;
    if (this.contract && leaderTerm > 0 && hs.commit > from && storage.term(hs.commit) !== leaderTerm) {
      // §5.4.2: a leader commits by counting replicas only an entry of its own term.
      throw new Violation(
        "leader commit rule",
        `leader ${id} of term ${leaderTerm} moved its commit index to ${hs.commit}, ` +
          `an entry of term ${storage.term(hs.commit)} (Figure 8)`,
      );
    }
    const lo = Math.max(from + 1, storage.firstIndex());
    for (let i = lo; i <= hs.commit; i++) {
      const e = storage.entries(i, i + 1)[0]!;
      this.committedAt(id, i, e.term, e.data);
      if (this.commitTerm[i] === undefined) this.commitTerm[i] = leaderTerm || hs.term;
    }
  }

  private committedAt(id: NodeId, index: number, term: number, data: string): void {
    const seen = this.committed[index];
    if (seen === undefined) {
      this.committed[index] = { term, data };
      const ack = this.acked.get(index);
      if (ack && !same(ack, { term, data })) {
        throw new Violation(
          "acknowledged write lost",
          `write ${ack.id} was acknowledged at index ${index} term ${ack.term}, ` +
            `member ${id} committed term ${term} ${short(data)} there`,
        );
      }
    } else if (!same(seen, { term, data })) {
      throw new Violation(
        "state-machine safety",
        `member ${id} committed term ${term} ${short(data)} at index ${index}, ` +
          `another committed term ${seen.term} ${short(seen.data)}`,
      );
    }
  }

  /** A snapshot stands for the committed log up to its index. */
  snapshotInstalled(id: NodeId, snap: Snapshot): void {
    const seen = this.committed[snap.meta.index];
    if (seen !== undefined && seen.term !== snap.meta.term) {
      throw new Violation(
        "state-machine safety",
        `member ${id} installed a snapshot at index ${snap.meta.index} term ${snap.meta.term}, ` +
          `but term ${seen.term} was committed there`,
      );
    }
  }

  /** State-machine safety: no two members apply different entries at one index; none applies past commit. */
  appliedEntry(id: NodeId, e: Entry, commit: number): void {
    if (this.contract && e.index > commit) {
      throw new Violation(
        "applied past commit",
        `member ${id} was handed entry ${e.index} to apply, past its commit index ${commit}`,
      );
    }
    const seen = this.applied[e.index];
    if (seen === undefined) this.applied[e.index] = { term: e.term, data: e.data };
    else if (!same(seen, e)) {
      throw new Violation(
        "state-machine safety",
        `member ${id} applied term ${e.term} ${short(e.data)} at index ${e.index}, ` +
          `another applied term ${seen.term} ${short(seen.data)}`,
      );
    }
    this.committedAt(id, e.index, e.term, e.data);
  }

  /** A client was told its write succeeded: it must stay at (index, term) forever. */
  ack(index: number, term: number, data: string, id: string): void {
    const seen = this.committed[index];
    if (seen !== undefined && !same(seen, { term, data })) {
      throw new Violation(
        "acknowledged write lost",
        `write ${id} acknowledged at index ${index} term ${term}, but term ${seen.term} was committed there`,
      );
    }
    this.acked.set(index, { term, data, id });
  }

  /** Leader completeness for a leader of `term`: it holds every entry committed in an earlier term. */
  leaderComplete(id: NodeId, term: number, storage: SimStorage, from: number): number {
    let i = from;
    for (;;) {
      const c = this.committed[i + 1];
      const ct = this.commitTerm[i + 1];
      if (c === undefined || ct === undefined || ct >= term) return i;
      i++;
      if (i < storage.firstIndex()) continue;
      const have = i <= storage.lastIndex() ? storage.term(i) : undefined;
      if (have !== c.term) {
        const ack = this.acked.get(i);
        throw new Violation(
          ack ? "acknowledged write lost" : "leader completeness",
          `leader ${id} of term ${term} lacks entry ${i} (term ${c.term}${ack ? `, write ${ack.id}` : ""}) ` +
            `committed in term ${ct}; its log has ${have === undefined ? "nothing" : `term ${have}`} there`,
        );
      }
    }
  }

  /** The core's configuration is the one its log and snapshots dictate. */
  confAgrees(id: NodeId, index: number, expected: ConfState, got: ConfState): void {
    if (confKey(expected) !== confKey(got)) {
      throw new Violation(
        "configuration",
        `member ${id} at index ${index} has voters/stand-bys/spares ${confKey(got)}; ` +
          `its log and snapshot say ${confKey(expected)}`,
      );
    }
  }

  /** Single-server changes are safe one at a time: a leader's log holds at most one not yet applied. */
  oneConfChange(id: NodeId, applied: number, storage: SimStorage): void {
    if (!this.contract) return;
    let n = 0;
    const pending: number[] = [];
    for (let i = Math.max(applied + 1, storage.firstIndex()); i <= storage.lastIndex(); i++) {
      if (storage.entries(i, i + 1)[0]!.type === "conf" && ++n) pending.push(i);
    }
    if (n > 1) {
      throw new Violation(
        "one membership change at a time",
        `leader ${id} holds membership changes at ${
          pending.join(" and ")
        }, above its applied index ${applied}`,
      );
    }
  }

  /** Durable term never goes back; within a term the durable vote, once cast, never changes. */
  hardStateMoved(id: NodeId, from: HardState, to: HardState): void {
    if (this.contract && to.term < from.term) {
      throw new Violation("durable term", `member ${id} wrote term ${to.term} over term ${from.term}`);
    }
    if (this.contract && to.term === from.term && from.vote !== 0 && to.vote !== from.vote) {
      throw new Violation(
        "one vote per term",
        `member ${id} changed its term-${to.term} vote from ${from.vote} to ${to.vote || "nobody"}`,
      );
    }
  }

  /** The driver contract: a message leaves only once the state it vouches for is durable. */
  sent(id: NodeId, m: Message, storage: SimStorage): void {
    if (!this.contract) return;
    const hs = storage.hardState;
    if (m.type === "vote-resp" && !m.reject && (hs.term !== m.term || hs.vote !== m.to)) {
      throw new Violation(
        "durable vote",
        `member ${id} granted its term-${m.term} vote to ${m.to} while its disk says term ${hs.term} vote ${hs.vote}`,
      );
    }
    if (
      m.type === "app-resp" && !m.reject && m.index > storage.lastIndex() && m.index > storage.snap.meta.index
    ) {
      throw new Violation(
        "durable ack",
        `member ${id} acknowledged index ${m.index} to ${m.to} with only ${storage.lastIndex()} on disk`,
      );
    }
    if (m.type !== "pre-vote" && m.type !== "pre-vote-resp" && m.term > hs.term) {
      throw new Violation(
        "durable term",
        `member ${id} sent ${m.type} in term ${m.term} with term ${hs.term} on disk`,
      );
    }
  }
}
