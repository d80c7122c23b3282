/**
 * Reads of a member that holds no replica (a spare, as dqlite's: it replicates nothing): the
 * SELECTs of a read function run on the leader, and the function runs here on their answers.
 *
 * A read function is synchronous code over ReadTx, and which queries it makes can depend on what
 * earlier ones returned. So it runs in rounds: each run records the queries it made that have no
 * answer yet (it gets no rows for them meanwhile); then every query recorded so far goes to the
 * leader at once, in one read there; the function runs again on those answers. When a run makes
 * no query without an answer, its result stands, and every answer it used comes from that one
 * read on the leader: a consistent, linearizable view (read index there). Most reads settle in
 * one round trip (queries that do not depend on each other are found in one run).
 * @module
 */
import type { SqlValue } from "./sqlite.ts";
import type { ReadTx, Row } from "./tx.ts";

/** One SELECT to run elsewhere: its text, parameters, and whether only the first row matters. */
export interface RemoteQuery {
  sql: string;
  params: SqlValue[];
  one: boolean;
}

/**
 * Runs SELECTs on the leader, in one read there (linearizable unless stale), and answers one
 * list of rows per query, in order, with the index the answering member had applied when it read
 * them (null from a member too old to say): the answers stay exact while the leader's applied
 * index is no higher.
 */
export type RemoteReader = (
  queries: RemoteQuery[],
  stale: boolean,
) => Promise<{ rows: Row[][]; applied: number | null }>;

/** How many rounds a read may take: as deep as its chain of queries that depend on each other. */
const MAX_ROUNDS = 12;

export function queryKey(q: RemoteQuery): string {
  return JSON.stringify([q.sql, q.params, q.one]);
}

/** A ReadTx that answers from `answers` and records in `missing` the queries it has none for. */
export class AnswerTx implements ReadTx {
  constructor(
    private readonly answers: ReadonlyMap<string, Row[]>,
    private readonly missing: Map<string, RemoteQuery>,
  ) {}
  #rows(sql: string, params: SqlValue[], one: boolean): Row[] {
    if (!/^\s*(SELECT|WITH|VALUES)\b/i.test(sql)) {
      throw new Error(`query() takes a SELECT; use exec() to write: ${sql}`);
    }
    const q = { sql, params, one };
    const k = queryKey(q);
    const rows = this.answers.get(k);
    if (rows) return rows;
    this.missing.set(k, q);
    return [];
  }
  query<T = Row>(sql: string, ...params: SqlValue[]): T[] {
    return this.#rows(sql, params, false) as T[];
  }
  get<T = Row>(sql: string, ...params: SqlValue[]): T | undefined {
    return this.#rows(sql, params, true)[0] as T | undefined;
  }
}

/** What one run of a read function gave, on the answers it had. */
export type Run<R> =
  | { done: true; ok: true; value: R }
  | { done: true; ok: false; error: unknown }
  | { done: false; missing: RemoteQuery[] };

/** Runs fn once on `answers`: done when it asked nothing that has no answer. */
export function runOn<R>(fn: (r: ReadTx) => R, answers: ReadonlyMap<string, Row[]>): Run<R> {
  const missing = new Map<string, RemoteQuery>();
  try {
    const value = fn(new AnswerTx(answers, missing));
    return missing.size ? { done: false, missing: [...missing.values()] } : { done: true, ok: true, value };
  } catch (error) {
    // A run without some answers may fail on its made-up empty rows: only a complete one counts.
    return missing.size ? { done: false, missing: [...missing.values()] } : { done: true, ok: false, error };
  }
}

/**
 * Reads through `remote` in rounds (see the module's comment); resolves with fn's result on the
 * last round's answers, or rejects with what fn threw on them. `seed` queries (known to be
 * wanted) go in the first round.
 */
export async function readThrough<R>(
  fn: (r: ReadTx) => R,
  remote: RemoteReader,
  stale: boolean,
  seed: RemoteQuery[] = [],
): Promise<{ value: R; answers: Map<string, Row[]> }> {
  let asked = [...seed];
  let answers = new Map<string, Row[]>();
  if (asked.length) answers = await ask(remote, asked, stale);
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const r = runOn(fn, answers);
    if (r.done) {
      if (!r.ok) throw r.error;
      return { value: r.value, answers };
    }
    asked = [...asked, ...r.missing];
    answers = await ask(remote, asked, stale);
  }
  throw new Error(
    `A read through the database leader needed more than ${MAX_ROUNDS} rounds: its queries depend on each other too deeply`,
  );
}

async function ask(remote: RemoteReader, qs: RemoteQuery[], stale: boolean): Promise<Map<string, Row[]>> {
  const { rows } = await remote(qs, stale);
  return new Map(qs.map((q, i) => [queryKey(q), rows[i] ?? []]));
}

/** Leader side: answers queries from a member without a replica, on a ReadTx of its own. */
export function answerQueries(tx: ReadTx, queries: RemoteQuery[]): Row[][] {
  return queries.map((q) => {
    if (!q.one) return tx.query(q.sql, ...q.params);
    const row = tx.get(q.sql, ...q.params);
    return row === undefined ? [] : [row];
  });
}

/** Checks a list of queries as it arrives from another member. */
export function checkQueries(x: unknown): RemoteQuery[] {
  const qs = (x as { queries?: unknown } | null)?.queries;
  if (!Array.isArray(qs)) throw new Error("queries must be a list");
  return qs.map((q) => {
    const o = q as Partial<RemoteQuery> | null;
    if (
      typeof o?.sql !== "string" || !Array.isArray(o.params) || typeof o.one !== "boolean" ||
      !o.params.every((p) => p === null || typeof p === "string" || typeof p === "number")
    ) {
      throw new Error(
        "each query needs sql (a string), params (strings, numbers or null) and one (a boolean)",
      );
    }
    return { sql: o.sql, params: o.params, one: o.one };
  });
}
