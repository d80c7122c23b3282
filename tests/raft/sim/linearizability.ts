/**
 * A linearizability checker in the style of Wing & Gong as refined by Lowe and Porcupine: the
 * history becomes a doubly linked list of call and return events in time order; the search
 * linearizes a call whose model step is legal, lifts it out of the list, and backtracks when it
 * meets a return whose call could not be placed. A cache of (linearized set, model state) pairs
 * prunes states already explored, which is what makes it usable on real histories.
 *
 * The key-value model is checked per key: operations on different keys commute, so each key's
 * sub-history is linearizable on its own or the whole is not (P-compositionality).
 *
 * Operations whose outcome the client never learned (a write that timed out) have `ret`
 * Infinity and no output: they may take effect at any point after their call, or never, which
 * is the same as taking effect after every other operation.
 * @module
 */

/** A sequential specification: `step` says whether `input` may produce `output` from `state`. */
export interface Model<S, I, O> {
  init(): S;
  /** `output` undefined means unknown: any outcome the model allows is accepted. */
  step(state: S, input: I, output: O | undefined): { ok: boolean; state: S };
  /** Equal states must give equal keys (the cache relies on it). */
  key(state: S): string;
  describe?(input: I, output: O | undefined): string;
}

/** One invocation: called at `call`, answered at `ret` (Infinity when no answer came). */
export interface Operation<I, O> {
  client: number;
  input: I;
  output?: O;
  call: number;
  ret: number;
  /** Shown with the operation when a check fails (where it was served, say). */
  note?: string;
}

export type CheckResult =
  | { ok: true }
  /** `at`: when the operation that could not be placed returned (or was called, if pending). */
  | { ok: false; reason: string; ops: string[]; at: number }
  /** The search gave up after `limit` steps: neither a pass nor a violation. */
  | { ok: "unknown"; reason: string };

interface Node {
  op: number; // index into the history; -1 for the sentinel
  call: boolean;
  match: Node | null; // a call's return event
  prev: Node | null;
  next: Node | null;
}

/** Default bound on search steps per partition; far above what the simulator's histories need. */
export const DEFAULT_LIMIT = 2_000_000;

/** Checks one history against `model`; see the module doc for pending operations. */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  limit = DEFAULT_LIMIT,
): CheckResult {
  const n = history.length;
  if (n === 0) return { ok: true };
  const events: { time: number; call: boolean; op: number }[] = [];
  for (let i = 0; i < n; i++) {
    const o = history[i]!;
    if (!(o.ret >= o.call)) throw new Error(`operation ${i} returns (${o.ret}) before its call (${o.call})`);
    events.push({ time: o.call, call: true, op: i }, { time: o.ret, call: false, op: i });
  }
  // Calls before returns at equal times: two operations that touch at one instant are concurrent.
  events.sort((a, b) => a.time - b.time || (a.call === b.call ? a.op - b.op : a.call ? -1 : 1));
  const head: Node = { op: -1, call: false, match: null, prev: null, next: null };
  const calls: Node[] = new Array(n);
  const rets: Node[] = new Array(n);
  let tail = head;
  for (const e of events) {
    const node: Node = { op: e.op, call: e.call, match: null, prev: tail, next: null };
    tail.next = node;
    tail = node;
    (e.call ? calls : rets)[e.op] = node;
  }
  for (let i = 0; i < n; i++) calls[i]!.match = rets[i]!;

  const words = Math.ceil(n / 32);
  const bits = new Uint32Array(words);
  const cache = new Set<string>();
  const stack: { node: Node; state: S }[] = [];
  let state = model.init();
  let entry: Node | null = head.next;
  let steps = 0;
  let deepest = -1;
  let stuckAt = -1;
  const stateKey = (s: S, extra: number) => {
    bits[extra >>> 5]! ^= 1 << (extra & 31);
    const k = bits.join(",") + "|" + model.key(s);
    bits[extra >>> 5]! ^= 1 << (extra & 31);
    return k;
  };

  while (head.next !== null) {
    if (++steps > limit) {
      return { ok: "unknown", reason: `search gave up after ${limit} steps over ${n} operations` };
    }
    if (entry === null) throw new Error("linearizability search ran off the event list");
    if (entry.call) {
      const op = history[entry.op];
      const r = model.step(state, op!.input, op!.output);
      let advanced = false;
      if (r.ok) {
        const k = stateKey(r.state, entry.op);
        if (!cache.has(k)) {
          cache.add(k);
          stack.push({ node: entry, state });
          state = r.state;
          bits[entry.op >>> 5]! ^= 1 << (entry.op & 31);
          lift(entry);
          entry = head.next;
          advanced = true;
        }
      }
      if (!advanced) entry = entry.next;
    } else {
      // A return whose call is still in the list: that call must come before everything after,
      // and no placement worked, so undo the last choice.
      if (stack.length > deepest) {
        deepest = stack.length;
        stuckAt = entry.op;
      }
      const top = stack.pop();
      if (top === undefined) return failure(model, history, stuckAt, deepest);
      state = top.state;
      bits[top.node.op >>> 5]! ^= 1 << (top.node.op & 31);
      unlift(top.node);
      entry = top.node.next;
    }
  }
  return { ok: true };
}

function lift(call: Node): void {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

function unlift(call: Node): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}

function failure<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  stuckAt: number,
  deepest: number,
): CheckResult {
  const describe = (o: Operation<I, O>) =>
    `client ${o.client} [${o.call}, ${o.ret === Infinity ? "pending" : o.ret}] ` +
    (model.describe ? model.describe(o.input, o.output) : JSON.stringify([o.input, o.output])) +
    (o.note ? ` (${o.note})` : "");
  const order = history.map((_, i) => i).sort((a, b) => history[a]!.call - history[b]!.call || a - b);
  // Show the operations around the one that could not be placed: those are the ones to read.
  const stuck = history[stuckAt];
  const near = order.filter((i) =>
    i === stuckAt || (history[i]!.call <= stuck!.ret && history[i]!.ret >= stuck!.call - 1) ||
    Math.abs(order.indexOf(i) - order.indexOf(stuckAt)) <= 6
  );
  return {
    ok: false,
    reason: `no linearization: after placing ${deepest} of ${history.length} operations, ` +
      `none places ${describe(stuck!)}`,
    ops: near.slice(0, 40).map((i) => (i === stuckAt ? "> " : "  ") + describe(history[i]!)),
    at: stuck!.ret === Infinity ? stuck!.call : stuck!.ret,
  };
}

// ---- the key-value model ----

export type KvInput =
  | { op: "get"; key: string }
  | { op: "put"; key: string; value: string }
  | { op: "cas"; key: string; expect: string | null; value: string };

/** get answers `value`; cas answers `ok`; put answers nothing. */
export interface KvOutput {
  value?: string | null;
  ok?: boolean;
}

export type KvOperation = Operation<KvInput, KvOutput>;

/** One key's register: its value, or null when never written. */
export const registerModel: Model<string | null, KvInput, KvOutput> = {
  init: () => null,
  step(state, input, output) {
    switch (input.op) {
      case "get":
        return { ok: output === undefined || output.value === state, state };
      case "put":
        return { ok: true, state: input.value };
      case "cas": {
        const hit = state === input.expect;
        if (output === undefined || output.ok === undefined) {
          return { ok: true, state: hit ? input.value : state };
        }
        return { ok: output.ok === hit, state: hit ? input.value : state };
      }
    }
  },
  key: (s) => (s === null ? "-" : "=" + s),
  describe(input, output) {
    const v = (x: string | null | undefined) => (x === null || x === undefined ? "nil" : JSON.stringify(x));
    switch (input.op) {
      case "get":
        return `get ${input.key} -> ${output === undefined ? "?" : v(output.value)}`;
      case "put":
        return `put ${input.key}=${v(input.value)}${output === undefined ? " (outcome unknown)" : ""}`;
      case "cas":
        return `cas ${input.key} ${v(input.expect)}->${v(input.value)} -> ` +
          (output?.ok === undefined ? "?" : String(output.ok));
    }
  },
};

/** Checks a key-value history key by key; the first key without a linearization fails it. */
export function checkKv(history: KvOperation[], limit = DEFAULT_LIMIT): CheckResult & { keys: number } {
  const byKey = new Map<string, KvOperation[]>();
  for (const o of history) {
    // A read that never answered constrains nothing.
    if (o.input.op === "get" && o.output === undefined) continue;
    let list = byKey.get(o.input.key);
    if (!list) byKey.set(o.input.key, list = []);
    list.push(o);
  }
  let unknown: CheckResult | undefined;
  for (const [key, ops] of [...byKey].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    const r = checkOperations(registerModel, ops, limit);
    if (r.ok === false) return { ...r, reason: `key ${JSON.stringify(key)}: ${r.reason}`, keys: byKey.size };
    if (r.ok === "unknown") unknown = { ok: "unknown", reason: `key ${JSON.stringify(key)}: ${r.reason}` };
  }
  return { ...(unknown ?? { ok: true }), keys: byKey.size };
}
