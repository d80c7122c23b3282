/**
 * The member-to-member calls of moves and copies, and what watches them: a JSON call and its
 * answer, the wait for an operation a member started, a transfer's progress as LXD words it, and
 * the watch that gives up on a stalled arrival.
 */
import { byteSize, StatusError } from "../util/mod.ts";
import type { MemberRouting } from "./routing.ts";
import type { MemberCall } from "./member_calls.ts";

/** A member call (member_calls.ts) routed to `member`; its reply, or its error as a StatusError. */
export function callVia<Req, Rep>(
  routing: MemberRouting,
  member: string,
  c: MemberCall<Req, Rep>,
  req: Req,
): Promise<Rep> {
  return memberCall<Rep>(routing, member, c.method, c.path(req), c.body(req));
}

/** A JSON call to another member as this member; its metadata, or its error as a StatusError. */
export async function memberCall<T = unknown>(
  routing: MemberRouting,
  member: string,
  method: string,
  path: string,
  body: unknown,
): Promise<T> {
  const res = await routing.forward(
    member,
    new Request(`http://shoal${path}`, {
      method,
      body: JSON.stringify(body),
      headers: { "Content-Type": "application/json" },
    }),
    null,
  );
  const text = await res.text();
  let env: { error?: string; metadata?: T } = {};
  try {
    env = JSON.parse(text);
  } catch { /* not an envelope */ }
  if (!res.ok) throw new StatusError(res.status, env.error || `HTTP ${res.status} from "${member}"`);
  return env.metadata as T;
}

/** Waits for the operation a member's 202 names; throws its error (or the refusal) with `what`. */
export async function waitAnswer(
  routing: MemberRouting,
  member: string,
  res: Response,
  what: string,
): Promise<void> {
  const env = await res.json().catch(() => ({})) as { error?: string; operation?: string };
  if (!res.ok || !env.operation) throw new StatusError(res.ok ? 502 : res.status, `${what}: ${env.error}`);
  const op = await routing.ask<{ status: string; err: string }>(
    member,
    `${env.operation}/wait?timeout=3600`,
    3_610_000,
  );
  if (op.status !== "Success") throw new Error(`${what}: ${op.err}`);
}

/** How long a stream may go without a byte, and an arrival may take to commit after it, before the source gives up. */
const STALL_MS = 60_000;
const COMMIT_MS = 120_000;

/**
 * Watches a move's arrival call: it fails when the volume's stream stalls (a target partitioned
 * away sends no RST, and the call would hang with the instance locked) or when the commit takes
 * too long after the stream ended. The source then calls the move off and asks the database.
 */
export class StallWatch {
  #last = Date.now();
  #streamedAt = 0;
  #tell?: (bytes: number) => void;
  constructor(tell?: (bytes: number) => void) {
    this.#tell = tell;
  }
  bytes(n: number): void {
    this.#last = Date.now();
    this.#tell?.(n);
  }
  streamed(): void {
    this.#streamedAt = Date.now();
  }
  race<T>(p: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setInterval> | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setInterval(() => {
        const now = Date.now();
        if (this.#streamedAt === 0 && now - this.#last > STALL_MS) {
          reject(new Error(`The target member took no byte of the volume for ${STALL_MS / 1000} s`));
        } else if (this.#streamedAt > 0 && now - this.#streamedAt > COMMIT_MS) {
          reject(
            new Error(`The target member did not commit within ${COMMIT_MS / 1000} s of the stream's end`),
          );
        }
      }, 1_000);
    });
    return Promise.race([p, stalled]).finally(() => clearInterval(timer));
  }
}

/** A byte counter told as LXD's transfer progress ("12.34MB (56.78MB/s)"), a few times a second. */
export function rate(progress: (text: string) => void): (bytes: number) => void {
  const start = performance.now();
  let told = 0;
  return (bytes) => {
    const now = performance.now();
    if (now - told < 250) return;
    told = now;
    progress(`${byteSize(bytes)} (${byteSize(bytes / Math.max((now - start) / 1000, 0.001))}/s)`);
  };
}

export function errorStatus(e: unknown): number {
  return e instanceof StatusError ? e.status : 500;
}
