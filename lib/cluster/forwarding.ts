import { ClientSession, leadershipMoved, lookupTx, type SessionRef, UNKNOWN_SESSION } from "../db/mod.ts";
import { CallLost } from "../transport/mod.ts";
import { errorMessage, errorStatus, sleep, StatusError, unavailable } from "../util/mod.ts";
import type { ForwardedResult, ForwardedSession, ForwardedTx } from "../wire/mod.ts";
import { callMember, type MemberCall, STREAM_CALLS } from "./member_calls.ts";
import type { Self } from "./self.ts";
import { METRICS } from "../util/metrics.ts";

const forwarded = METRICS.counter(
  "shoal_forwarded_requests_total",
  "Requests this member sent on to the database leader, by call.",
);

/** The leader key of this member, when it leads (addresses are host:port, never this). */
export const SELF = "self";

/** A transaction waiting for its answer from the leader. */
interface Item {
  name: string;
  args: unknown;
  /** The session it is numbered in ("" until first sent) and its number there. */
  sid: string;
  seq: number;
  deadline: number;
  /** Some copy may have reached a leader without an answer: its outcome is unknown. */
  maybe: boolean;
  last: unknown;
  resolve: (r: { result: unknown; index: number }) => void;
  reject: (e: unknown) => void;
}

/** One call to a leader with a group of items. */
interface Send {
  leader: string;
  items: Item[];
  ctl: AbortController;
  done: boolean;
  timer?: ReturnType<typeof setTimeout>;
}

export interface ForwardQueueOptions {
  /** Sends transactions to a leader in one call; one result per transaction. */
  send: (leader: string, txs: ForwardedTx[], signal: AbortSignal) => Promise<ForwardedResult[]>;
  /** Opens a client session on a leader (through its log; opening one twice changes nothing). */
  open: (leader: string, id: string, signal: AbortSignal) => Promise<void>;
  /** Who leads now, as a key (SELF: this member), or null while none is known. */
  leader: () => string | null;
  /** How long a transaction keeps being sent, to this leader or the next, before it fails. */
  retryForMs: number;
  /**
   * How long one call to a leader may go unanswered before the transaction goes again, to the
   * leader of the moment: a small multiple of the election timeout, so that a leader that
   * stopped answering (SIGSTOP, a partition) costs no more than one that died.
   */
  attemptMs: number;
  /** Pause before calling the same leader again after a failed call. */
  retryDelayMs?: number;
  /** Calls in flight at once to one leader; beyond it transactions wait and leave together. */
  maxInFlight?: number;
  /** Transactions in one call (the leader groups at most this many into one entry). */
  maxBatch?: number;
  now?: () => number;
}

/**
 * Forwards a member's transactions to the leader, exactly once: each is numbered in this
 * member's client session (lib/db/sessions.ts), so the leader's state machine applies it once
 * however often it arrives, and this queue may send it again whenever its outcome is unknown.
 * It does so when the leader changes (the calls to the old one are let go), when a call goes
 * unanswered for attemptMs, when its stream breaks, and on every 503 refusal ("not the leader",
 * "transferring", a leader that stops): until retryForMs, then the caller is told whether the
 * change may have been made.
 *
 * A transaction leaves at once, with those raised in the same turn (one call): the leader
 * groups what arrives while it commits into its next entry, so one sent at once joins that
 * entry as a leader's own request would. Held back here until a call came back (two in flight,
 * as before), it reached the leader just after the next entry had started and waited for that
 * one too: 2.5 commits instead of 1.5, smaller entries, and the follower path at 16 clients at
 * half the leader's. Only beyond maxInFlight calls do transactions wait, and then leave together.
 */
export class ForwardQueue {
  #o: Required<ForwardQueueOptions>;
  #session = new ClientSession();
  /** The session id the leaders know (opened through the log), or null. */
  #opened: string | null = null;
  #opening = false;
  #waiting: Item[] = [];
  #sends = new Set<Send>();
  /** After a failed call, the same leader is called again only from `until` on. */
  #pause: { leader: string; until: number } | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** A pump is due at the end of this turn (what forward() is given in one turn leaves together). */
  #due = false;
  #stopped: Error | null = null;

  constructor(o: ForwardQueueOptions) {
    this.#o = { retryDelayMs: 50, maxInFlight: 16, maxBatch: 256, now: () => Date.now(), ...o };
    this.#session.renew();
  }

  /** Runs a transaction on the leader; resolves with its result and entry index. */
  forward(tx: { name: string; args: unknown }): Promise<{ result: unknown; index: number }> {
    if (this.#stopped) return Promise.reject(this.#stopped);
    return new Promise((resolve, reject) => {
      this.#waiting.push({
        name: tx.name,
        args: tx.args,
        sid: "",
        seq: 0,
        deadline: this.#o.now() + this.#o.retryForMs,
        maybe: false,
        last: null,
        resolve,
        reject,
      });
      if (!this.#due) {
        this.#due = true;
        queueMicrotask(() => {
          this.#due = false;
          this.#pump();
        });
      }
    });
  }

  /** The leader changed: calls to another one are let go and their transactions sent to this one. */
  leaderChanged(): void {
    const leader = this.#o.leader();
    for (const s of [...this.#sends]) {
      if (s.leader !== leader) this.#requeue(s, new StatusError(503, "The database leader changed"));
    }
    this.#pause = null;
    this.#pump();
  }

  /** Fails everything waiting, with whether its change may have been made; refuses new ones. */
  stop(): void {
    this.#stopped = unavailable("The change was not made: this member is shutting down");
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const s of [...this.#sends]) this.#requeue(s, new StatusError(503, "This member is shutting down"));
    for (const item of this.#waiting.splice(0)) this.#fail(item, "this member is shutting down");
  }

  /** Transactions waiting or in flight (tests). */
  get pending(): number {
    let n = this.#waiting.length;
    for (const s of this.#sends) n += s.items.length;
    return n;
  }

  #pump(): void {
    if (this.#stopped) return;
    const now = this.#o.now();
    if (this.#waiting.some((i) => now >= i.deadline)) {
      const late = this.#waiting.filter((i) => now >= i.deadline);
      this.#waiting = this.#waiting.filter((i) => now < i.deadline);
      for (const item of late) {
        this.#fail(
          item,
          `no database leader answered within ${
            this.#o.retryForMs / 1000
          } s (the cluster may have lost quorum)`,
        );
      }
    }
    const leader = this.#o.leader();
    const paused = this.#pause !== null && this.#pause.leader === leader && now < this.#pause.until;
    if (leader !== null && !paused && this.#waiting.length > 0) {
      if (this.#opened !== this.#session.id) this.#open(leader);
      else {
        while (this.#inFlight(leader) < this.#o.maxInFlight && this.#waiting.length > 0) {
          this.#launch(leader, this.#waiting.splice(0, this.#o.maxBatch));
        }
      }
    }
    // Waiting for a leader, a session, a pause or a call to end: look again shortly (deadlines
    // too). One timer at a time, left to run (re-arming it at every pump cost more than a pump).
    if (this.#waiting.length === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#pump();
      }, this.#o.retryDelayMs);
    }
  }

  #inFlight(leader: string): number {
    let n = 0;
    for (const s of this.#sends) if (s.leader === leader) n++;
    return n;
  }

  /** Opens the session on the leader; the transactions wait for it. Safe to repeat. */
  #open(leader: string): void {
    if (this.#opening) return;
    this.#opening = true;
    const id = this.#session.id;
    const ctl = new AbortController();
    const timer = setTimeout(
      () => ctl.abort(new StatusError(503, "The database leader did not answer")),
      this.#o.attemptMs,
    );
    void this.#o.open(leader, id, ctl.signal).then(
      () => {
        if (this.#session.id === id) this.#opened = id;
      },
      (e) => {
        for (const item of this.#waiting) item.last = e;
        this.#pause = { leader, until: this.#o.now() + this.#o.retryDelayMs };
      },
    ).finally(() => {
      clearTimeout(timer);
      this.#opening = false;
      this.#pump();
    });
  }

  #launch(leader: string, items: Item[]): void {
    const sid = this.#session.id;
    for (const item of items) {
      if (item.sid !== sid) {
        item.sid = sid;
        item.seq = this.#session.next();
      }
    }
    const txs: ForwardedTx[] = items.map((i) => ({
      name: i.name,
      args: i.args,
      session: this.#session.ref(i.seq) satisfies SessionRef satisfies ForwardedSession,
    }));
    const s: Send = { leader, items, ctl: new AbortController(), done: false };
    this.#sends.add(s);
    if (leader !== SELF) {
      s.timer = setTimeout(
        () =>
          this.#requeue(
            s,
            new StatusError(503, `The database leader did not answer within ${this.#o.attemptMs} ms`),
          ),
        this.#o.attemptMs,
      );
    }
    this.#o.send(leader, txs, s.ctl.signal).then(
      (results) => this.#answered(s, results),
      (e) => this.#callFailed(s, e),
    );
  }

  /** Takes a call out of flight; false if it was already (its late answer is ignored). */
  #finish(s: Send): boolean {
    if (s.done) return false;
    s.done = true;
    clearTimeout(s.timer);
    this.#sends.delete(s);
    return true;
  }

  /** Lets a call go without its answer: its transactions go again (their outcome is unknown). */
  #requeue(s: Send, why: unknown): void {
    if (!this.#finish(s)) return;
    s.ctl.abort(why);
    for (const item of s.items) {
      item.maybe = true;
      item.last = why;
    }
    this.#waiting.unshift(...s.items);
    if (!this.#stopped) queueMicrotask(() => this.#pump());
  }

  #callFailed(s: Send, e: unknown): void {
    if (!this.#finish(s)) return;
    const retry = e instanceof CallLost || errorStatus(e) === 503;
    for (const item of s.items) {
      if (!(e instanceof CallLost && !e.sent)) item.maybe = true;
      item.last = e;
    }
    if (!retry) {
      for (const item of s.items) this.#settle(item, () => item.reject(e));
    } else {
      this.#waiting.unshift(...s.items);
      this.#pause = { leader: s.leader, until: this.#o.now() + this.#o.retryDelayMs };
    }
    this.#pump();
  }

  #answered(s: Send, results: ForwardedResult[]): void {
    if (!this.#finish(s)) return;
    if (results.length !== s.items.length) {
      const e = new StatusError(
        500,
        `The leader answered ${results.length} of ${s.items.length} transactions`,
      );
      for (const item of s.items) this.#settle(item, () => item.reject(e));
      return this.#pump();
    }
    const again: Item[] = [];
    let renew = false;
    results.forEach((r, i) => {
      const item = s.items[i]!;
      if (r.ok) return this.#settle(item, () => item.resolve({ result: r.result, index: r.index }));
      const e = new StatusError(r.status, r.error);
      item.last = e;
      if (r.status === 503 && r.error.startsWith(UNKNOWN_SESSION)) {
        // The leaders no longer know the session (it expired unused): no copy of this
        // transaction can apply in it any more, so it goes again in a new one.
        if (item.sid === this.#session.id) renew = true;
        again.push(item);
      } else if (r.status === 503) {
        // Refused (not the leader, transferring, stopping…) or outcome unknown: the session
        // makes sending it again safe, to this leader or the next.
        if (!neverRan(e)) item.maybe = true;
        again.push(item);
      } else this.#settle(item, () => item.reject(e));
    });
    if (renew) {
      this.#session.renew();
      this.#opened = null;
    }
    if (again.length > 0) {
      this.#waiting.unshift(...again);
      this.#pause = { leader: s.leader, until: this.#o.now() + this.#o.retryDelayMs };
    }
    this.#pump();
  }

  #fail(item: Item, why: string): void {
    const last = item.last ? ` (${errorMessage(item.last)})` : "";
    const e = item.maybe
      ? unavailable(`The change may or may not have been made: ${why}; check before retrying${last}`)
      : unavailable(`The change was not made: ${why}${last}`);
    this.#settle(item, () => item.reject(e));
  }

  /** Answers an item's caller; its outcome may now be forgotten by the leaders. */
  #settle(item: Item, answer: () => void): void {
    if (item.sid === this.#session.id) this.#session.done(item.seq);
    answer();
  }
}

/**
 * Whether a request that failed certainly did not run on the leader, so that sending it again
 * without a session cannot apply it twice (lib/db's leadershipMoved): a connection error is no
 * proof, since a request delivered to a leader that then died can come back as "connection
 * refused" once an HTTP client library tries again, after the leader had committed it.
 */
export const neverRan = leadershipMoved;

/** How long a follower waits for a leader before a write fails. */
const LEADER_WAIT_MS = 10_000;

/**
 * Everything of a write that leaves this member for the leader: it installs itself as the
 * global database's forwarder, sends transactions to the leader exactly once (ForwardQueue, on
 * the call stream), answers them when this member leads, and sends other requests that only
 * the leader may carry out.
 */
export class Forwarding {
  #self: Self;
  #queue: ForwardQueue;

  constructor(self: Self) {
    this.#self = self;
    this.#queue = new ForwardQueue({
      send: async (leader, txs, signal) =>
        leader === SELF
          ? await this.execute(txs)
          : (await self.streams.call(leader, STREAM_CALLS.transactions, { transactions: txs }, signal))
            .results,
      open: async (leader, id, signal) => {
        if (leader === SELF) await this.#openSession(id);
        else await self.streams.call(leader, STREAM_CALLS.openSession, { id }, signal);
      },
      leader: () => {
        const g = self.gateway;
        if (g.isLeader()) return SELF;
        if (g.leader === 0 || g.leader === g.raftId) return null;
        return g.leaderAddress();
      },
      retryForMs: LEADER_WAIT_MS,
      attemptMs: 2 * self.gateway.electionTimeoutMs(),
    });
    self.streams.handle(STREAM_CALLS.transactions, async (req) => ({
      results: await this.execute(checkTransactions(req)),
    }));
    self.streams.handle(STREAM_CALLS.openSession, async (req) => {
      const id = (req as { id?: unknown } | null)?.id;
      if (typeof id !== "string" || !/^[0-9a-f]{32}$/.test(id)) {
        throw new StatusError(400, "Malformed session id: expected 32 hexadecimal digits");
      }
      await this.#openSession(id);
      return {};
    });
  }

  /** From now on, the global database sends a follower's transactions through here. */
  install(): void {
    this.#self.db.setForwarder((name, args) => this.#queue.forward({ name, args }));
  }

  /** Transactions waiting or in flight to the old leader go to the new one now. */
  leaderChanged(): void {
    queueMicrotask(() => this.#queue.leaderChanged());
  }

  /** Fails what still waits for a leader (the member stops). */
  stop(): void {
    this.#queue.stop();
  }

  async #openSession(id: string): Promise<void> {
    if (!this.#self.gateway.isLeader()) throw unavailable("Not the database leader");
    await this.#self.db.openSession(id);
  }

  /**
   * Sends a request to the database leader, waiting (bounded) for one to be elected; when this
   * member turns out to lead, `onSelf` answers instead.
   */
  async leaderRequest<Req, Rep>(
    call: MemberCall<Req, Rep>,
    req: Req,
    onSelf?: () => Promise<Rep>,
  ): Promise<Rep> {
    const deadline = Date.now() + LEADER_WAIT_MS;
    let last: unknown = null;
    for (;;) {
      const g = this.#self.gateway;
      if (g.isLeader()) {
        if (onSelf) return await onSelf();
        throw unavailable("This member is the database leader");
      }
      const address = g.leader !== 0 && g.leader !== g.raftId ? g.leaderAddress() : null;
      if (address) {
        try {
          forwarded.inc({ call: call.route });
          return await callMember(this.#self.clients.get(address), call, req, AbortSignal.timeout(30_000));
        } catch (e) {
          // A leader that refused before running anything, or that could not be reached at all:
          // wait for the next one. After a request may have run there (a reset connection, a
          // timeout), sending it again could apply it twice: the caller must be told instead.
          if (!neverRan(e)) {
            if (e instanceof StatusError && e.status !== 503) throw e;
            throw unavailable(
              `The database leader did not answer, so the change may or may not have been made: check before retrying (${
                errorMessage(e)
              })`,
            );
          }
          last = e;
        }
      }
      if (Date.now() > deadline) {
        throw unavailable(
          `No database leader answered within ${LEADER_WAIT_MS / 1000} s: the cluster may have lost quorum${
            last ? ` (${errorMessage(last)})` : ""
          }`,
        );
      }
      await sleep(address ? 50 : 10);
    }
  }

  /** Leader side of forwarding: one result per transaction, each once per session number. */
  execute(txs: ForwardedTx[]): Promise<ForwardedResult[]> {
    if (!this.#self.gateway.isLeader()) throw unavailable("Not the database leader");
    // Queued together, so they share the leader's next entry.
    return Promise.all(txs.map(async (t): Promise<ForwardedResult> => {
      const def = lookupTx(t.name);
      if (!def) {
        return {
          ok: false,
          status: 400,
          error: `Unknown transaction "${t.name}": members run different versions`,
        };
      }
      try {
        return { ok: true, ...await this.#self.db.execute(def, t.args, t.session) };
      } catch (e) {
        return { ok: false, status: errorStatus(e), error: errorMessage(e) };
      }
    }));
  }
}

/** The transactions of a forwarding call, checked: a malformed one changes nothing. */
function checkTransactions(req: unknown): ForwardedTx[] {
  const txs = (req as { transactions?: unknown } | null)?.transactions;
  const ok = Array.isArray(txs) && txs.every((t) => {
    if (typeof t !== "object" || t === null || typeof (t as ForwardedTx).name !== "string") return false;
    const s = (t as ForwardedTx).session;
    return s === undefined ||
      (typeof s === "object" && s !== null && typeof s.id === "string" && Number.isSafeInteger(s.seq) &&
        s.seq > 0 && Number.isSafeInteger(s.low) && s.low > 0);
  });
  if (!ok) {
    throw new StatusError(400, "Malformed forwarded transactions: expected a list of {name, args, session?}");
  }
  return txs as ForwardedTx[];
}
