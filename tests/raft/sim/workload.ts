/**
 * The clients: each runs one operation at a time (get, put or compare-and-set on a few keys)
 * and records it in the history the linearizability checker reads, through the member drivers'
 * own API as the daemon uses it. Reads go through the client's home member's read barrier;
 * writes go to the leader as far as the client knows, and follow its leader hint. A write whose
 * fate the client cannot learn stays pending.
 * @module
 */
import type { NodeId } from "../../../lib/raft/types.ts";
import type { Invariants } from "./invariants.ts";
import { type Command, encodeCommand } from "./kv.ts";
import type { KvInput, KvOperation } from "./linearizability.ts";
import type { Member } from "./member.ts";
import type { Rng } from "../../../lib/util/rng.ts";

export const OP_TIMEOUT_MS = 500;

export interface Op {
  n: number;
  id: string;
  client: number;
  rec: KvOperation;
  cmd?: Command;
  deadline: number;
  done: boolean;
  /** A proposal is accepted and waits to apply on the member that took it. */
  inFlight: boolean;
  /** An accepted proposal's fate can no longer be learned (its member crashed, or its driver
   *  gave up waiting): no more attempts, and it stays pending in the history. */
  ambiguous: boolean;
  attempts: number;
  /** The driver whose read barrier this read waits on: asking it again would only wait again. */
  reading?: unknown;
}

interface Client {
  id: number;
  /** Where this client sends writes: the leader as far as it knows. */
  target: NodeId;
  /** The member this client reads through, as a client connected to one server would; the
   *  member asks its leader for a read index. */
  home: NodeId;
  op: Op | null;
  /** Values this client saw per key, for its cas. */
  seen: Map<string, string | null>;
}

/** The events the workload schedules: a client wakes up, or an operation's time runs out. */
export type ClientEvent = { k: "client"; c: number } | { k: "timeout"; c: number; op: number };

/** What the workload needs of the simulation. */
export interface Cluster {
  readonly q: { readonly now: number; after(delay: number, ev: ClientEvent): void };
  readonly rng: Rng;
  readonly members: readonly Member[];
  readonly inv: Invariants;
  readonly stats: { ops: number; acked: number; reads: number; pending: number };
  /** No new operations once the faults are healed. */
  readonly healing: boolean;
  /** Waits on a driver's promise, as a client connected to that member does. */
  track<T>(p: Promise<T>, ok: (v: T) => void, err?: (e: Error) => void): void;
  /** Adds a line to the trace. */
  note(s: string): void;
}

/** Refusals that leave no entry behind (not the leader, or another entry took the index): a
 *  write refused so may be tried again. Anything else leaves its fate unknown. */
const SAFE_TO_RETRY = /^(Not the database leader|No database leader|Proposal refused|Leadership changed)/;

export class Workload {
  readonly history: KvOperation[] = [];
  private clients: Client[] = [];
  private ops: Op[] = [];

  constructor(private readonly sim: Cluster, clients: number, private readonly keys: string[]) {
    const rng = sim.rng;
    const ids = sim.members.map((m) => m.id);
    for (let c = 0; c < clients; c++) {
      this.clients.push({ id: c + 1, target: rng.pick(ids), home: rng.pick(ids), op: null, seen: new Map() });
      sim.q.after(rng.between(0, 50), { k: "client", c });
    }
  }

  handle(ev: ClientEvent): void {
    if (ev.k === "client") this.wake(this.clients[ev.c]!);
    else this.timeout(this.clients[ev.c]!, ev.op);
  }

  private member(id: NodeId): Member {
    return this.sim.members[id - 1]!;
  }

  private wake(c: Client): void {
    if (c.op && !c.op.done) return this.attempt(c, c.op);
    const { q, rng } = this.sim;
    if (this.sim.healing) return;
    const n = this.ops.length;
    const key = rng.pick(this.keys);
    const id = `c${c.id}.${n}`;
    const r = rng.int(10);
    const input: KvInput = r < 5
      ? { op: "get", key }
      : r < 8
      ? { op: "put", key, value: id }
      : { op: "cas", key, expect: c.seen.get(key) ?? null, value: id };
    const rec: KvOperation = { client: c.id, input, call: q.now, ret: Infinity };
    const op: Op = {
      n,
      id,
      client: c.id,
      rec,
      deadline: q.now + OP_TIMEOUT_MS,
      done: false,
      inFlight: false,
      ambiguous: false,
      attempts: 0,
    };
    if (input.op === "put") op.cmd = { id, op: "put", key, value: input.value };
    if (input.op === "cas") op.cmd = { id, op: "cas", key, expect: input.expect, value: input.value };
    this.ops.push(op);
    this.history.push(rec);
    this.sim.stats.ops++;
    c.op = op;
    q.after(OP_TIMEOUT_MS, { k: "timeout", c: c.id - 1, op: n });
    this.attempt(c, op);
  }

  private attempt(c: Client, op: Op): void {
    const { q, rng, members } = this.sim;
    if (op.done || q.now >= op.deadline) return;
    const read = op.rec.input.op === "get";
    const m = this.member(read ? c.home : c.target);
    if (!m.driver) {
      if (read) c.home = rng.pick(members).id;
      else c.target = rng.pick(members).id;
      return q.after(10, { k: "client", c: c.id - 1 });
    }
    op.attempts++;
    const d = m.driver;
    if (read && d.leader === 0) {
      // The driver refuses at once (a 503) when its member knows no leader: ask again later.
      if (rng.chance(0.2)) c.home = rng.pick(members).id;
      return q.after(rng.between(30, 80), { k: "client", c: c.id - 1 });
    }
    if (read) {
      const key = op.rec.input.key;
      if (op.reading !== d) {
        op.reading = d;
        this.sim.track(d.readBarrier(), () => read(), () => {
          if (op.reading === d) op.reading = undefined;
        });
      }
      const read = () => {
        if (op.reading === d) op.reading = undefined;
        if (op.done || m.driver !== d) return;
        const value = m.kv.get(key);
        op.rec.output = { value };
        op.rec.note = `via member ${m.id}, ${m.role} of term ${m.term}, applied ${m.applied}`;
        this.sim.note(`client ${op.client} reads ${key} = ${value} from ${m.id} at ${m.applied}`);
        c.seen.set(key, value);
        this.sim.stats.reads++;
        this.finish(op);
      };
      // No answer yet: ask again later, maybe elsewhere (reads can be repeated freely).
      if (rng.chance(0.2)) c.home = rng.pick(members).id;
      q.after(rng.between(30, 80), { k: "client", c: c.id - 1 });
      return;
    }
    if (op.ambiguous || op.inFlight) return;
    if (!d.isLeader()) {
      const lead = d.leader;
      c.target = lead && lead !== m.id && rng.chance(0.8) ? lead : rng.pick(members).id;
      return q.after(lead ? 2 : 20, { k: "client", c: c.id - 1 });
    }
    op.inFlight = true;
    this.sim.track(d.propose(encodeCommand(op.cmd!)), ({ index, outcomes }) => {
      if (op.done) return;
      op.rec.output = op.rec.input.op === "cas" ? { ok: outcomes.ok } : {};
      op.rec.note = `entry ${index}/${outcomes.term} via member ${m.id}`;
      this.sim.note(
        `client ${op.client} ${op.rec.input.op} ${op.rec.input.key} acked at ${index} by ${m.id}`,
      );
      this.sim.inv.ack(index, outcomes.term, outcomes.data, op.id);
      this.sim.stats.acked++;
      this.finish(op);
    }, (e) => {
      if (op.done) return;
      if (SAFE_TO_RETRY.test(e.message)) {
        op.inFlight = false;
        q.after(1, { k: "client", c: c.id - 1 });
      } else op.ambiguous = true;
    });
  }

  private finish(op: Op): void {
    op.done = true;
    op.rec.ret = this.sim.q.now;
    const c = this.clients[op.client - 1]!;
    if (c.op === op) {
      c.op = null;
      this.sim.q.after(this.sim.rng.between(0, 30), { k: "client", c: c.id - 1 });
    }
  }

  private timeout(c: Client, n: number): void {
    const op = this.ops[n];
    if (op!.done) return;
    op!.done = true;
    // A read that never answered and a write never accepted leave the history; a write
    // accepted somewhere stays pending forever: it may or may not have happened.
    if (op!.rec.input.op !== "get" && (op!.inFlight || op!.ambiguous)) this.sim.stats.pending++;
    else this.history.splice(this.history.indexOf(op!.rec), 1);
    if (c.op === op) {
      c.op = null;
      c.target = this.sim.rng.pick(this.sim.members).id;
      this.sim.q.after(this.sim.rng.between(0, 30), { k: "client", c: c.id - 1 });
    }
  }
}
