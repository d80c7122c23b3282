/**
 * The three workloads, each a few concurrent clients on the REST API of different members
 * (through their unix sockets), recording every operation with its invocation and completion
 * times:
 *   register  config keys (user.jepsen.rN) read with GET /1.0 and written with PATCH /1.0; a key
 *             serves a bounded number of operations, then the clients move on to the next, so
 *             each key's history stays small enough to check exhaustively (Jepsen's
 *             "independent" keys).
 *   set       profiles jepsen-N created with POST /1.0/profiles; the final read lists them.
 *   bank      transfers between the rows of a table in the global database through
 *             `shoald sql global`'s endpoint, one conditional UPDATE each; reads see the total.
 * An answer that cannot say whether a write happened (timeout, connection lost, a 5xx) makes
 * the operation "info": it may or may not have taken effect, as in Jepsen.
 */
import type { OpRecord, OpStatus } from "./history.ts";
import { Rng } from "../../lib/util/rng.ts";

/** A member the clients can talk to now. */
export interface Target {
  name: string;
  socket: string;
}

/** What the workloads need from the run. */
export interface WorkloadContext {
  /** The member client `i` of a workload talks to for its next operation (null: none alive). */
  target(i: number): Target | null;
  now(): number;
  record(op: OpRecord): void;
  stopped(): boolean;
  rng: Rng;
}

export const BANK_ACCOUNTS = 5;
export const BANK_INITIAL = 100;
const OP_TIMEOUT_MS = 5_000;
const OPS_PER_KEY = 60;

/** An answer from a member, or why none came. */
interface Answer {
  status: number;
  body: { metadata?: unknown; error?: string } | null;
}

/** Raised when no answer came: `sent` says whether the request may have reached the member. */
class NoAnswer extends Error {
  constructor(message: string, readonly sent: boolean) {
    super(message);
  }
}

const clients = new Map<string, Deno.HttpClient>();
const inFlight = new Map<string, number>();

/**
 * Resolves once no request to `socket` is in flight (at most a request timeout later): a member
 * about to be removed must have answered everything it was asked as a member, since once
 * removed it is a standalone server that would answer from a database of its own.
 */
export async function drained(socket: string): Promise<void> {
  const deadline = Date.now() + OP_TIMEOUT_MS + 1_000;
  while ((inFlight.get(socket) ?? 0) > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
}

function httpClient(socket: string): Deno.HttpClient {
  let c = clients.get(socket);
  if (!c) clients.set(socket, c = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } }));
  return c;
}

/** Forgets the connections to a socket (its member was restarted or removed). */
export function dropConnections(socket: string): void {
  clients.get(socket)?.close();
  clients.delete(socket);
}

/** Closes every connection (end of run). */
export function closeConnections(): void {
  for (const c of clients.values()) c.close();
  clients.clear();
}

async function call(t: Target, method: string, path: string, body?: unknown): Promise<Answer> {
  inFlight.set(t.socket, (inFlight.get(t.socket) ?? 0) + 1);
  try {
    return await send(t, method, path, body);
  } finally {
    inFlight.set(t.socket, inFlight.get(t.socket)! - 1);
  }
}

async function send(t: Target, method: string, path: string, body?: unknown): Promise<Answer> {
  let res: Response;
  try {
    res = await fetch(`http://shoal${path}`, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? {} : { "content-type": "application/json" },
      client: httpClient(t.socket),
      signal: AbortSignal.timeout(OP_TIMEOUT_MS),
    });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    // A socket that is missing or refuses: the request never left.
    const unsent = /ENOENT|ECONNREFUSED|No such file|Connection refused/i.test(msg);
    if (!unsent) dropConnections(t.socket);
    throw new NoAnswer(msg, !unsent);
  }
  let parsed: Answer["body"] = null;
  try {
    parsed = JSON.parse(await res.text());
  } catch (e) {
    throw new NoAnswer(`unreadable answer (${res.status}): ${(e as Error).message}`, true);
  }
  return { status: res.status, body: parsed };
}

/** Runs one operation and records it; `write` says whether an unknown outcome is ambiguous. */
async function operate(
  ctx: WorkloadContext,
  base: Omit<OpRecord, "type" | "status" | "call" | "ret" | "member" | "output" | "error">,
  write: boolean,
  t: Target,
  fn: (t: Target) => Promise<Record<string, unknown> | undefined>,
): Promise<void> {
  const callAt = ctx.now();
  let status: OpStatus;
  let output: Record<string, unknown> | undefined;
  let error: string | undefined;
  let ret: number | null;
  try {
    output = await fn(t);
    status = "ok";
    ret = ctx.now();
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
    const definite = e instanceof Refused || (e instanceof NoAnswer && !e.sent);
    status = !write || definite ? "fail" : "info";
    ret = status === "info" ? null : ctx.now();
  }
  ctx.record({ type: "op", ...base, status, call: callAt, ret, member: t.name, output, error });
}

/** A definite refusal: the member answered that it did not do it (4xx). */
class Refused extends Error {}

function expectOk(a: Answer, what: string): unknown {
  if (a.status >= 200 && a.status < 300) return a.body?.metadata;
  const msg = `${what}: ${a.status} ${a.body?.error ?? ""}`.trim();
  if (a.status >= 400 && a.status < 500) throw new Refused(msg);
  throw new Error(msg);
}

async function think(ctx: WorkloadContext): Promise<void> {
  await new Promise((r) => setTimeout(r, 2 + ctx.rng.int(8)));
}

async function noTarget(): Promise<void> {
  await new Promise((r) => setTimeout(r, 100));
}

/** Register clients: reads and writes of config keys, a new key every OPS_PER_KEY operations. */
export async function registerClients(ctx: WorkloadContext, n: number, firstClient: number): Promise<void> {
  let started = 0;
  let seq = 0;
  await Promise.all(Array.from({ length: n }, async (_, i) => {
    while (!ctx.stopped()) {
      const t = ctx.target(i);
      if (!t) {
        await noTarget();
        continue;
      }
      const key = `user.jepsen.r${Math.floor(started++ / OPS_PER_KEY)}`;
      const id = ++seq;
      if (ctx.rng.chance(0.5)) {
        await operate(
          ctx,
          { id, client: firstClient + i, workload: "register", f: "read", input: { key } },
          false,
          t,
          async (t) => {
            const m = expectOk(await call(t, "GET", "/1.0"), "GET /1.0") as {
              config?: Record<string, string>;
            };
            return { value: m?.config?.[key] ?? null };
          },
        );
      } else {
        const value = `${firstClient + i}.${id}`;
        await operate(
          ctx,
          { id, client: firstClient + i, workload: "register", f: "write", input: { key, value } },
          true,
          t,
          async (t) => {
            expectOk(await call(t, "PATCH", "/1.0", { config: { [key]: value } }), "PATCH /1.0");
            return undefined;
          },
        );
      }
      await think(ctx);
    }
  }));
}

/** Set clients: each adds profiles with names no one used before. */
export async function setClients(ctx: WorkloadContext, n: number, firstClient: number): Promise<void> {
  let seq = 0;
  await Promise.all(Array.from({ length: n }, async (_, i) => {
    while (!ctx.stopped()) {
      const t = ctx.target(i);
      if (!t) {
        await noTarget();
        continue;
      }
      const element = `jepsen-${++seq}`;
      await operate(
        ctx,
        { id: seq, client: firstClient + i, workload: "set", f: "add", input: { element } },
        true,
        t,
        async (t) => {
          expectOk(
            await call(t, "POST", "/1.0/profiles", { name: element, config: {}, devices: {} }),
            "POST /1.0/profiles",
          );
          return undefined;
        },
      );
      await think(ctx);
    }
  }));
}

interface SqlAnswer {
  results?: { type: string; rows: unknown[][]; rows_affected: number }[];
}

async function sql(t: Target, query: string): Promise<SqlAnswer> {
  return expectOk(
    await call(t, "POST", "/internal/sql", { database: "global", query }),
    "sql global",
  ) as SqlAnswer;
}

/** Makes the bank's table with every account at BANK_INITIAL (once, before the clients start). */
export async function bankSetup(t: Target): Promise<void> {
  const rows = Array.from({ length: BANK_ACCOUNTS }, (_, i) => `(${i + 1}, ${BANK_INITIAL})`).join(", ");
  await sql(
    t,
    `CREATE TABLE IF NOT EXISTS jepsen_bank (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL); ` +
      `INSERT OR IGNORE INTO jepsen_bank (id, balance) VALUES ${rows}`,
  );
}

/** The bank's rows as id → balance, by a linearizable read. */
export async function bankRead(t: Target): Promise<Record<string, number>> {
  const a = await sql(t, "SELECT id, balance FROM jepsen_bank ORDER BY id");
  const out: Record<string, number> = {};
  for (const r of a.results?.[0]?.rows ?? []) out[String(r[0])] = Number(r[1]);
  return out;
}

/** Bank clients: transfers (one conditional UPDATE, so never below zero) and reads. */
export async function bankClients(ctx: WorkloadContext, n: number, firstClient: number): Promise<void> {
  let seq = 0;
  await Promise.all(Array.from({ length: n }, async (_, i) => {
    while (!ctx.stopped()) {
      const t = ctx.target(i);
      if (!t) {
        await noTarget();
        continue;
      }
      const id = ++seq;
      if (ctx.rng.chance(0.4)) {
        await operate(
          ctx,
          { id, client: firstClient + i, workload: "bank", f: "read", input: {} },
          false,
          t,
          async (t) => {
            return { balances: await bankRead(t) };
          },
        );
      } else {
        const from = 1 + ctx.rng.int(BANK_ACCOUNTS);
        const to = 1 + ((from + ctx.rng.int(BANK_ACCOUNTS - 1)) % BANK_ACCOUNTS);
        const amount = 1 + ctx.rng.int(5);
        await operate(
          ctx,
          { id, client: firstClient + i, workload: "bank", f: "transfer", input: { from, to, amount } },
          true,
          t,
          async (t) => {
            const a = await sql(
              t,
              `UPDATE jepsen_bank SET balance = balance + (CASE id WHEN ${to} THEN ${amount} ELSE ${-amount} END) ` +
                `WHERE id IN (${from}, ${to}) AND (SELECT balance FROM jepsen_bank WHERE id = ${from}) >= ${amount}`,
            );
            return { changed: a.results?.[0]?.rows_affected ?? 0 };
          },
        );
      }
      await think(ctx);
    }
  }));
}

/** The set's elements present now (profile names starting with jepsen-), by a linearizable read. */
export async function setRead(t: Target): Promise<string[]> {
  const m = expectOk(await call(t, "GET", "/1.0/profiles"), "GET /1.0/profiles") as string[];
  return m.map((u) => decodeURIComponent(u.split("/").pop()!)).filter((n) => n.startsWith("jepsen-"));
}
