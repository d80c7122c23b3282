import type { KeyPair } from "../tls/mod.ts";
import { errorMessage, errorStatus, StatusError } from "../util/mod.ts";
import { connectWs, type WsClient } from "./client_ws.ts";

/**
 * A call that left this member and whose connection broke before the answer came: the other
 * side may or may not have received it (`sent`), and nothing here sends it again. Calls that
 * never left (`sent: false`: no connection) certainly did not run.
 */
export class CallLost extends StatusError {
  readonly sent: boolean;
  constructor(message: string, sent: boolean) {
    super(503, message);
    this.name = "CallLost";
    this.sent = sent;
  }
}

/**
 * The frames of a call stream. A request with `m: 1` says its caller takes answers grouped in
 * one frame (an array of replies): the answers that are ready in the same turn (a leader's
 * answers to the transactions of one log entry) leave in one TLS write instead of one each. A
 * member of an older version sends no `m` and gets one frame per answer, as before.
 */
type Request = { id: number; body: unknown; m?: 1 };
type Reply = { id: number; ok: true; body: unknown } | {
  id: number;
  ok: false;
  status: number;
  error: string;
};

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

class Conn {
  ws!: WsClient;
  readonly open: Promise<void>;
  readonly pending = new Map<number, Pending>();
  opened!: () => void;
  failed!: (e: Error) => void;
  constructor() {
    this.open = new Promise((resolve, reject) => {
      this.opened = resolve;
      this.failed = reject;
    });
    this.open.catch(() => {});
  }
}

export interface CallsOptions {
  /** The cluster certificate: pinned as the only one the other side may show. */
  tls: () => { pair: KeyPair; pin: string } | null;
  /**
   * This member's own certificate, presented: members know each other by their own certificates
   * (the cluster's opens nothing by itself). Absent: the cluster certificate (tests of the stream).
   */
  clientCert?: () => KeyPair;
  /** The path of the call stream on the other member. */
  path: string;
  /** How long opening a stream may take. */
  openTimeoutMs?: number;
}

/**
 * Request and answer over one websocket per member (wss, mutual TLS with the cluster
 * certificate, pinned): each call is one frame out and one frame back, matched by id. Unlike
 * Deno's HTTP clients (node:http and fetch both send a POST again, on a new connection, when a
 * kept-alive one breaks after the server received it: calls_test.ts pins that), a websocket
 * never repeats a frame: a call whose connection breaks fails with CallLost, and the caller
 * decides whether sending it again is safe.
 */
export class WsCalls {
  #o: CallsOptions;
  #conns = new Map<string, Conn>();
  #next = 0;
  #closed = false;

  constructor(o: CallsOptions) {
    this.#o = o;
  }

  /** Sends body to the member at address; resolves with its answer, or rejects with its error. */
  async call<T>(address: string, body: unknown, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    const conn = this.#conn(address);
    try {
      await abortable(conn.open, signal);
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      throw new CallLost(`Cannot reach member ${address}: ${errorMessage(e)}`, false);
    }
    const id = ++this.#next;
    return await new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        conn.pending.delete(id);
        reject(signal!.reason);
      };
      conn.pending.set(id, {
        resolve: (v) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(v as T);
        },
        reject: (e) => {
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
      });
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        conn.ws.send(JSON.stringify({ id, body, m: 1 } satisfies Request));
      } catch (e) {
        conn.pending.delete(id);
        reject(new CallLost(`Cannot send to member ${address}: ${errorMessage(e)}`, false));
      }
    });
  }

  #conn(address: string): Conn {
    const known = this.#conns.get(address);
    if (known && (known.ws.state === "open" || known.ws.state === "connecting")) return known;
    if (this.#closed) throw new CallLost("This member is shutting down its calls to other members", false);
    const tls = this.#o.tls();
    if (!tls) throw new CallLost("This member has no cluster certificate yet", false);
    const own = this.#o.clientCert?.() ?? tls.pair;
    const conn = new Conn();
    this.#conns.set(address, conn);
    const down = (why: string) => {
      if (this.#conns.get(address) === conn) this.#conns.delete(address);
      for (const p of conn.pending.values()) {
        p.reject(
          new CallLost(
            `The connection to member ${address} broke before it answered (${why}): the call may or may not have been carried out`,
            true,
          ),
        );
      }
      conn.pending.clear();
    };
    conn.ws = connectWs({
      address,
      path: this.#o.path,
      ca: tls.pair.cert,
      pin: tls.pin,
      cert: own.cert,
      key: own.key,
      handshakeTimeoutMs: this.#o.openTimeoutMs ?? 5_000,
    }, {
      onOpen: () => conn.opened(),
      onMessage: (data) => {
        let replies: Reply | Reply[];
        try {
          replies = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data)) as
            | Reply
            | Reply[];
        } catch {
          return;
        }
        for (const reply of Array.isArray(replies) ? replies : [replies]) {
          const p = conn.pending.get(reply?.id);
          if (!p) continue; // given up by its caller (aborted)
          conn.pending.delete(reply.id);
          if (reply.ok) p.resolve(reply.body);
          else p.reject(new StatusError(reply.status, reply.error));
        }
      },
      onClose: (err, opened) => {
        if (!opened) conn.failed(err ?? new Error("closed before it opened"));
        down(err ? errorMessage(err) : "closed");
      },
    });
    return conn;
  }

  /** Closes the stream to one member; its calls in flight fail with CallLost. */
  drop(address: string): void {
    this.#conns.get(address)?.ws.terminate();
  }

  /**
   * Closes every stream but keeps making new ones (the certificates changed): calls in flight
   * fail with CallLost.
   */
  reset(): void {
    for (const c of this.#conns.values()) c.ws.terminate();
    this.#conns.clear();
  }

  /** Closes every stream; later calls are refused. */
  close(): void {
    this.#closed = true;
    for (const c of this.#conns.values()) c.ws.terminate();
    this.#conns.clear();
  }
}

/** What serveCalls needs of an accepted websocket (lib/daemon's listeners provide it). */
export interface CallSocket {
  send(data: string): void;
  onMessage(h: (data: string | Uint8Array) => void): void;
  onClose(h: () => void): void;
}

/**
 * The answering side of a call stream: runs handle for every request frame, concurrently, and
 * sends its answer (or its error, with status) back. An answer for a stream that closed is lost:
 * the caller was told its call may or may not have been carried out.
 */
export function serveCalls(socket: CallSocket, handle: (body: unknown) => Promise<unknown>): void {
  let open = true;
  socket.onClose(() => open = false);
  /** Whether the caller takes grouped answers (its requests say so), and those ready this turn. */
  let grouped = false;
  let ready: string[] = [];
  const flush = () => {
    const out = ready;
    ready = [];
    if (open) socket.send(out.length === 1 ? out[0]! : `[${out.join(",")}]`);
  };
  const answer = (reply: Reply) => {
    const text = JSON.stringify(reply);
    if (!grouped) {
      if (open) socket.send(text);
      return;
    }
    if (ready.push(text) === 1) queueMicrotask(flush);
  };
  socket.onMessage((data) => {
    let req: Request;
    try {
      req = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data)) as Request;
      if (typeof req?.id !== "number") throw new Error("no id");
    } catch {
      return; // not a call: nothing to answer to
    }
    if (req.m === 1) grouped = true;
    void (async () => {
      let reply: Reply;
      try {
        reply = { id: req.id, ok: true, body: await handle(req.body) };
      } catch (e) {
        reply = { id: req.id, ok: false, status: errorStatus(e), error: errorMessage(e) };
      }
      answer(reply);
    })();
  });
}

function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
