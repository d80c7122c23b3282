/**
 * The daemon's structured logger: logfmt lines (as LXD writes them) to stderr and to a file,
 * and every record to subscribers (the `logging` events of /1.0/events).
 * @module
 */

/** Severity, in LXD's names. */
export type Level = "debug" | "info" | "warning" | "error";

const RANK: Record<Level, number> = { debug: 0, info: 1, warning: 2, error: 3 };

/** One log record. */
export interface LogRecord {
  level: Level;
  message: string;
  context: Record<string, string>;
  time: Date;
}

/** What code that logs needs; the raft core has its own, smaller interface. */
export interface Logger {
  debug(message: string, context?: Record<string, unknown>): void;
  info(message: string, context?: Record<string, unknown>): void;
  warn(message: string, context?: Record<string, unknown>): void;
  error(message: string, context?: Record<string, unknown>): void;
  /** A logger that adds these fields to every record. */
  with(context: Record<string, unknown>): Logger;
}

/** Options of a root logger. */
export interface LoggerOptions {
  /** Lowest level written to stderr; null writes nothing there. */
  stderrLevel?: Level | null;
  /** File that receives every record at fileLevel or above. */
  file?: string;
  fileLevel?: Level;
}

type Sink = (r: LogRecord) => void;

/** Formats a record as one logfmt line. */
export function formatRecord(r: LogRecord): string {
  const q = (s: string) => /^[\w./:@-]+$/.test(s) ? s : JSON.stringify(s);
  const fields = Object.entries(r.context).map(([k, v]) => ` ${k}=${q(v)}`).join("");
  return `time="${r.time.toISOString()}" level=${r.level} msg=${JSON.stringify(r.message)}${fields}`;
}

function stringify(context: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(context)) {
    if (v === undefined) continue;
    out[k] = typeof v === "string" ? v : v instanceof Error ? v.message : JSON.stringify(v);
  }
  return out;
}

/** The root logger: owns the sinks; `with()` children share them. */
export class RootLogger implements Logger {
  /** Each sink with the lowest level it takes. */
  #sinks = new Map<Sink, Level>();
  /** The lowest rank any sink takes (Infinity: no sink). */
  #sinkRank = Infinity;
  #file: Deno.FsFile | undefined;
  #fileLevel: Level;
  #stderrLevel: Level | null;
  #encoder = new TextEncoder();

  constructor(options: LoggerOptions = {}) {
    this.#stderrLevel = options.stderrLevel === undefined ? "warning" : options.stderrLevel;
    this.#fileLevel = options.fileLevel ?? "info";
    if (options.file) {
      // The log names clients and members: the owner's only, as LXD's.
      this.#file = Deno.openSync(options.file, { append: true, create: true, mode: 0o600 });
      try {
        Deno.chmodSync(options.file, 0o600);
      } catch { /* not ours to change */ }
    }
  }

  /** Adds a sink that sees every record at `lowest` or above; returns its removal. */
  subscribe(sink: Sink, lowest: Level = "debug"): () => void {
    this.#sinks.set(sink, lowest);
    this.#sinkRank = Math.min(this.#sinkRank, RANK[lowest]);
    return () => {
      this.#sinks.delete(sink);
      this.#sinkRank = Math.min(Infinity, ...[...this.#sinks.values()].map((l) => RANK[l]));
    };
  }

  /** Whether a record of this level goes anywhere. */
  wants(level: Level): boolean {
    const rank = RANK[level];
    return rank >= this.#sinkRank || (this.#stderrLevel !== null && rank >= RANK[this.#stderrLevel]) ||
      (this.#file !== undefined && rank >= RANK[this.#fileLevel]);
  }

  log(level: Level, message: string, context: Record<string, unknown> = {}): void {
    const toStderr = this.#stderrLevel !== null && RANK[level] >= RANK[this.#stderrLevel];
    const toFile = this.#file !== undefined && RANK[level] >= RANK[this.#fileLevel];
    // Debug records come per request: no work when nothing wants them (the daemon's sink, which
    // makes logging events, takes none: each was built, context and all, to be dropped there).
    if (!toStderr && !toFile && RANK[level] < this.#sinkRank) return;
    const r: LogRecord = { level, message, context: stringify(context), time: new Date() };
    const line = toStderr || toFile ? this.#encoder.encode(formatRecord(r) + "\n") : new Uint8Array();
    if (toStderr) {
      try {
        Deno.stderr.writeSync(line);
      } catch { /* stderr closed: nothing to do */ }
    }
    if (toFile) {
      try {
        this.#file!.writeSync(line);
      } catch { /* disk full: the record is still seen by subscribers */ }
    }
    for (const [s, lowest] of this.#sinks) {
      if (RANK[level] < RANK[lowest]) continue;
      try {
        s(r);
      } catch { /* a broken subscriber must not break logging */ }
    }
  }

  debug(message: string, context?: Record<string, unknown>): void {
    this.log("debug", message, context);
  }
  info(message: string, context?: Record<string, unknown>): void {
    this.log("info", message, context);
  }
  warn(message: string, context?: Record<string, unknown>): void {
    this.log("warning", message, context);
  }
  error(message: string, context?: Record<string, unknown>): void {
    this.log("error", message, context);
  }
  with(context: Record<string, unknown>): Logger {
    return new ChildLogger(this, context);
  }

  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }
}

class ChildLogger implements Logger {
  constructor(readonly root: RootLogger, readonly context: Record<string, unknown>) {}
  debug(message: string, context?: Record<string, unknown>): void {
    if (this.root.wants("debug")) this.root.log("debug", message, { ...this.context, ...context });
  }
  info(message: string, context?: Record<string, unknown>): void {
    this.root.log("info", message, { ...this.context, ...context });
  }
  warn(message: string, context?: Record<string, unknown>): void {
    this.root.log("warning", message, { ...this.context, ...context });
  }
  error(message: string, context?: Record<string, unknown>): void {
    this.root.log("error", message, { ...this.context, ...context });
  }
  with(context: Record<string, unknown>): Logger {
    return new ChildLogger(this.root, { ...this.context, ...context });
  }
}

/** A logger that drops everything (tests, one-shot commands). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  with() {
    return silentLogger;
  },
};
