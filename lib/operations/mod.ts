/**
 * Background operations in LXD's model: tasks, websocket sessions and tokens, each with a
 * status, metadata and an `operation` event on every change.
 * @module
 */
import type { EventHub } from "../events/mod.ts";
import { badRequest, errorMessage, errorStatus, notFound, type TimerId, unrefTimer } from "../util/mod.ts";

import type { OpClass, Operation as OperationWire } from "../wire/mod.ts";
export type { OpClass };

/** Operation statuses and their codes. */
export const STATUS_CODES = {
  "Operation created": 100,
  Started: 101,
  Stopped: 102,
  Running: 103,
  Cancelling: 104,
  Pending: 105,
  Success: 200,
  Failure: 400,
  Cancelled: 401,
} as const;
export type OpStatus = keyof typeof STATUS_CODES;

/** An operation as the API shows it (LXD's field order). */
export type OperationJSON = OperationWire & { status: OpStatus };

/** A minimal websocket, as the API hands it to websocket operations. */
export interface OpSocket {
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onMessage(handler: (data: string | Uint8Array) => void): void;
  onClose(handler: () => void): void;
  /** Bytes sent and not yet taken by the connection (absent where the socket cannot tell). */
  buffered?(): number;
}

/** What an operation does. */
export interface OperationSpec {
  class: OpClass;
  description: string;
  project?: string;
  resources?: Record<string, string[]>;
  metadata?: Record<string, unknown>;
  /** A task's body; a returned object is merged into metadata. Errors set status Failure. */
  run?: (op: Operation, signal: AbortSignal) => Promise<Record<string, unknown> | void>;
  /** Whether DELETE may cancel it while running (tokens always may). */
  cancellable?: boolean;
  /** Called when cancelled (token revoked, task aborted). */
  onCancel?: (op: Operation) => void;
  /** Websocket class: a client connected with one of the op's secrets. */
  connect?: (op: Operation, secret: string, socket: OpSocket) => void;
}

/** One operation. */
export class Operation {
  readonly id: string = crypto.randomUUID();
  readonly spec: OperationSpec;
  readonly createdAt = new Date();
  updatedAt = new Date();
  status: OpStatus = "Pending";
  metadata: Record<string, unknown> | null;
  err = "";
  /** HTTP status that explains a failure (LXD's err_code), for /wait's error body. */
  errCode = 0;
  readonly project: string;
  #location: string;
  #abort = new AbortController();
  #done: Promise<void>;
  #finish!: () => void;
  #changed: (op: Operation) => void;

  constructor(spec: OperationSpec, location: string, changed: (op: Operation) => void) {
    this.spec = spec;
    this.metadata = spec.metadata ?? null;
    this.project = spec.project ?? "default";
    this.#location = location;
    this.#changed = changed;
    this.#done = new Promise((r) => (this.#finish = r));
  }

  /** True once Success, Failure or Cancelled. */
  get finished(): boolean {
    return this.status === "Success" || this.status === "Failure" || this.status === "Cancelled";
  }

  /** Resolves when finished. */
  done(): Promise<void> {
    return this.#done;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get mayCancel(): boolean {
    if (this.finished) return false;
    return this.spec.class === "token" || this.spec.cancellable === true;
  }

  /** Merges metadata and announces it. */
  updateMetadata(m: Record<string, unknown>): void {
    this.metadata = { ...(this.metadata ?? {}), ...m };
    this.#touch();
  }

  #touch(): void {
    this.updatedAt = new Date();
    this.#changed(this);
  }

  setStatus(status: OpStatus, err = "", errCode = 0): void {
    if (this.finished) return;
    this.status = status;
    this.err = err;
    this.errCode = errCode;
    this.#touch();
    if (this.finished) this.#finish();
  }

  /** Starts the task (or marks a token/websocket op running). */
  start(): void {
    this.setStatus("Running");
    const run = this.spec.run;
    if (!run) return;
    run(this, this.#abort.signal).then(
      (meta) => {
        if (meta) this.metadata = { ...(this.metadata ?? {}), ...meta };
        this.setStatus(this.#abort.signal.aborted ? "Cancelled" : "Success");
      },
      (e) =>
        this.setStatus(this.#abort.signal.aborted ? "Cancelled" : "Failure", errorMessage(e), errorStatus(e)),
    );
  }

  /** Completes a token or websocket op from outside (token used, session ended). */
  complete(err?: unknown): void {
    if (err === undefined) this.setStatus("Success");
    else this.setStatus("Failure", errorMessage(err), errorStatus(err));
  }

  /** Cancels; throws LXD's message when not cancellable. */
  cancel(): void {
    if (!this.mayCancel) throw badRequest("This operation can't be cancelled");
    this.#abort.abort();
    this.spec.onCancel?.(this);
    if (this.spec.run) this.setStatus("Cancelling");
    else this.setStatus("Cancelled");
  }

  toJSON(): OperationJSON {
    return {
      id: this.id,
      class: this.spec.class,
      description: this.spec.description,
      created_at: this.createdAt.toISOString(),
      updated_at: this.updatedAt.toISOString(),
      status: this.status,
      status_code: STATUS_CODES[this.status],
      resources: this.spec.resources ?? null,
      metadata: this.metadata,
      may_cancel: this.mayCancel,
      err: this.err,
      location: this.#location,
    };
  }
}

/**
 * Operations held by other members, as the cluster reaches them (it plugs this in once
 * clustered): LXD lists every member's operations and sends a request about one to its member.
 */
export interface RemoteOperations {
  /** The other members' answers to GET pathAndQuery (/1.0/operations…): each lists its own. */
  list(pathAndQuery: string, signal?: AbortSignal): Promise<Record<string, unknown[]>[]>;
  /** The answer of the member that has operation id to this request; null when none has it. */
  forward(id: string, method: string, pathAndQuery: string, signal?: AbortSignal): Promise<Response | null>;
}

/**
 * How long a finished operation stays visible. LXD keeps it 5 s; a client whose wait reaches the
 * owner later than that (its request forwarded by a busy member, thirty at once in CI) got
 * "Operation not found" for an operation that had succeeded. 30 s answers it.
 */
const KEEP_FINISHED_MS = 30_000;

/** The operations of this member. */
export class Operations {
  #ops = new Map<string, Operation>();
  #events: EventHub;
  #location: () => string;
  /** Other members' operations (null while standalone). */
  remote: RemoteOperations | null = null;

  constructor(events: EventHub, location: () => string) {
    this.#events = events;
    this.#location = location;
  }

  /** Creates and starts an operation. */
  create(spec: OperationSpec): Operation {
    const op = new Operation(spec, this.#location(), (o) => this.#changed(o));
    this.#ops.set(op.id, op);
    op.start();
    return op;
  }

  #changed(op: Operation): void {
    this.#events.publish("operation", op.toJSON(), op.project);
    if (op.finished) {
      const t = setTimeout(() => this.#ops.delete(op.id), KEEP_FINISHED_MS);
      unrefTimer(t);
    }
  }

  /** An operation by id; 404 otherwise. */
  get(id: string): Operation {
    const op = this.#ops.get(id);
    if (!op) throw notFound("Operation not found");
    return op;
  }

  /** An operation by id, or undefined. */
  find(id: string): Operation | undefined {
    return this.#ops.get(id);
  }

  /** Every operation, optionally of one project. */
  list(project?: string): Operation[] {
    return [...this.#ops.values()].filter((o) => !project || o.project === project);
  }

  /**
   * Waits for running tasks and websocket sessions to finish (graceful shutdown), up to
   * timeoutMs; tokens are not waited for: they end with the member.
   */
  async drain(timeoutMs: number): Promise<void> {
    const running = [...this.#ops.values()].filter((o) => !o.finished && o.spec.class !== "token");
    if (running.length === 0) return;
    let t: TimerId | undefined;
    await Promise.race([
      Promise.all(running.map((o) => o.done())),
      new Promise((r) => (t = setTimeout(r, timeoutMs))),
    ]);
    clearTimeout(t);
  }
}
