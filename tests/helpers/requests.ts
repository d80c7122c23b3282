/**
 * Requests of tests against a member through the typed client: a client that is closed however
 * the test goes, and the refusal a request must end in.
 * @module
 */
import type { Client } from "../../lib/client/mod.ts";
import { StatusError } from "../../lib/util/mod.ts";
import type { Member } from "./member.ts";

/** Runs fn with a client of m, closed afterwards whatever fn does. */
export async function withClient<T>(m: Member, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = m.client();
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** The StatusError a request fails with (fails the test if it succeeds). */
export async function refusal(p: Promise<unknown>): Promise<StatusError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof StatusError) return e;
    throw e;
  }
  throw new Error("the request was expected to fail but succeeded");
}
