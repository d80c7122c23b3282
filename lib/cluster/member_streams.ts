import type { KeyPair } from "../tls/mod.ts";
import { type CallSocket, serveCalls, WsCalls } from "../transport/mod.ts";
import { StatusError } from "../util/mod.ts";
import { CALL_STREAM_PATH, type StreamCall } from "./member_calls.ts";

/** What travels in one call frame: which call, and its request. */
interface Frame {
  call: string;
  req: unknown;
}

/** Answers one call for a member (named by its certificate). */
export type StreamHandler<Req, Rep> = (req: Req, caller: string) => Promise<Rep>;

/**
 * Calls between members on the call stream, both sides: `call()` sends one to a member (one
 * websocket per member, mutual TLS, this member's own certificate, the cluster certificate
 * pinned), `handle()` registers what answers one here, `serve()` runs an accepted stream.
 *
 * How to add a call: name it in STREAM_CALLS (member_calls.ts), `handle()` it in the part of
 * lib/cluster that owns it, and `call()` it. A call is delivered at most once: when it fails
 * with CallLost and `sent` is true, it may or may not have run, and sending it again is the
 * caller's decision (safe for idempotent calls and for transactions in a client session).
 */
export class MemberStreams {
  #calls: WsCalls;
  #handlers = new Map<string, StreamHandler<unknown, unknown>>();

  constructor(tls: () => { pair: KeyPair; pin: string } | null, own: () => KeyPair) {
    this.#calls = new WsCalls({ tls, clientCert: own, path: CALL_STREAM_PATH });
  }

  /** Makes a call on the member at address (host:port); resolves with its reply. */
  call<Req, Rep>(address: string, c: StreamCall<Req, Rep>, req: Req, signal?: AbortSignal): Promise<Rep> {
    return this.#calls.call<Rep>(address, { call: c.name, req } satisfies Frame, signal);
  }

  /** Answers a call on this member from now on (one handler per call). */
  handle<Req, Rep>(c: StreamCall<Req, Rep>, fn: StreamHandler<Req, Rep>): void {
    this.#handlers.set(c.name, fn as StreamHandler<unknown, unknown>);
  }

  /**
   * Serves an accepted call stream. `caller` names the member on the other end, asked again for
   * every call: a member removed since the stream opened is refused.
   */
  serve(socket: CallSocket, caller: () => string | null): void {
    serveCalls(socket, (body) => {
      const f = body as Partial<Frame> | null;
      if (typeof f?.call !== "string") {
        return Promise.reject(new StatusError(400, "Malformed member call: expected {call, req}"));
      }
      const who = caller();
      if (who === null) {
        return Promise.reject(
          new StatusError(403, "The calling certificate is no longer a cluster member's"),
        );
      }
      const h = this.#handlers.get(f.call);
      if (!h) {
        return Promise.reject(
          new StatusError(404, `Unknown member call "${f.call}": the members run different versions`),
        );
      }
      return h(f.req, who);
    });
  }

  /** Drops the streams (the certificates changed); later calls open new ones. */
  reset(): void {
    this.#calls.reset();
  }

  /** Closes the streams for good (the member stops): calls in flight fail with CallLost. */
  close(): void {
    this.#calls.close();
  }
}
