/**
 * A run's history as a file of JSON lines, written as the run goes (a crash keeps what was
 * seen) and read back by `--check FILE`: the run's parameters, every operation with its
 * invocation and completion times, every fault, and the final reads the checks end with.
 */

/** How an operation ended, as Jepsen says it: ok, failed (did not happen), info (may have happened). */
export type OpStatus = "ok" | "fail" | "info";

/** One client operation. Times are ms since the run started (a monotonic clock). */
export interface OpRecord {
  type: "op";
  id: number;
  client: number;
  workload: "register" | "set" | "bank";
  /** read | write (register), add (set), transfer | read (bank). */
  f: string;
  /** What was asked: {key, value} for a register write, {key} for a read, {element}, {from, to, amount}. */
  input: Record<string, unknown>;
  /** What came back, for ok operations: {value} for a read, {balances} for a bank read. */
  output?: Record<string, unknown>;
  status: OpStatus;
  call: number;
  /** null when the client gave up waiting (status info). */
  ret: number | null;
  member: string;
  error?: string;
}

/** One fault, recorded when it is healed (or at the end, if it never was). */
export interface FaultRecord {
  type: "fault";
  kind: string;
  /** What exactly, e.g. "kill m2 (leader)", "partition m1 | m2 m3". */
  detail: string;
  start: number;
  end: number;
}

/** The run's parameters: enough to replay its schedule. */
export interface MetaRecord {
  type: "meta";
  seed: number;
  time: number;
  nemesis: string;
  /** How long faults were held (absent in histories written before --pace). */
  pace?: string;
  members: number;
  started: string;
  bankAccounts: number;
  bankTotal: number;
}

/** Reads after every fault was healed: the set's elements and the bank's rows. */
export interface FinalRecord {
  type: "final";
  /** null when no read succeeded. */
  set: string[] | null;
  bank: Record<string, number> | null;
  at: number;
}

/** Resource figures of one member process at one time. */
export interface SampleRecord {
  type: "sample";
  member: string;
  pid: number;
  at: number;
  rssKb: number;
  fds: number;
}

/** Something the harness noticed that is not an operation (a member that died by itself). */
export interface NoteRecord {
  type: "note";
  at: number;
  text: string;
}

export type HistoryRecord = OpRecord | FaultRecord | MetaRecord | FinalRecord | SampleRecord | NoteRecord;

/** Appends records to a file as they come, flushing at least every 500 ms. */
export class HistoryWriter {
  readonly path: string;
  #file: Deno.FsFile;
  #buf: string[] = [];
  #timer: ReturnType<typeof setInterval>;
  #enc = new TextEncoder();

  constructor(path: string) {
    this.path = path;
    this.#file = Deno.openSync(path, { create: true, write: true, truncate: true });
    this.#timer = setInterval(() => this.flush(), 500);
  }

  add(r: HistoryRecord): void {
    this.#buf.push(JSON.stringify(r));
  }

  flush(): void {
    if (this.#buf.length === 0) return;
    const text = this.#buf.join("\n") + "\n";
    this.#buf = [];
    const bytes = this.#enc.encode(text);
    let off = 0;
    while (off < bytes.length) off += this.#file.writeSync(bytes.subarray(off));
  }

  close(): void {
    clearInterval(this.#timer);
    this.flush();
    this.#file.close();
  }
}

/** Reads a history file; a line that does not parse names its number. */
export async function readHistory(path: string): Promise<HistoryRecord[]> {
  const text = await Deno.readTextFile(path);
  const out: HistoryRecord[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      out.push(JSON.parse(line) as HistoryRecord);
    } catch (e) {
      throw new SyntaxError(`Cannot read history ${path} line ${i + 1}: ${(e as Error).message}`);
    }
  });
  if (!out.some((r) => r.type === "meta")) {
    throw new SyntaxError(`Cannot read history ${path}: no meta record`);
  }
  return out;
}
