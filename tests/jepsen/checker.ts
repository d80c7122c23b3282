/**
 * Checks a run's history, the one just recorded or one read back with `--check FILE`:
 *   register  each key's reads and writes with the project's linearizability checker (the one
 *             the Raft simulator uses); an ambiguous write may take effect at any point after
 *             its call, or never.
 *   set       every acknowledged profile is in the final read (else "lost"); nothing that was
 *             refused or never asked for is there (else an anomaly).
 *   bank      every read, and the final one, holds every account and the constant total.
 * Plus the figures the summary prints: faults by kind, operations by outcome, the longest
 * window without a successful write after each kind of fault, and members' memory and open
 * files over the run.
 */
import {
  checkOperations,
  type KvInput,
  type KvOutput,
  type Operation,
  registerModel,
} from "../raft/sim/linearizability.ts";
import type {
  FaultRecord,
  FinalRecord,
  HistoryRecord,
  MetaRecord,
  NoteRecord,
  OpRecord,
  SampleRecord,
} from "./history.ts";

/** Search bound per key: keys are small (a bounded number of operations each). */
const LIMIT_PER_KEY = 5_000_000;

/** What a check found. */
export interface Report {
  meta: MetaRecord;
  faults: Map<string, number>;
  faultCount: number;
  ops: { total: number; ok: number; fail: number; info: number };
  byWorkload: Map<string, { ok: number; fail: number; info: number }>;
  /** Each a sentence naming what went wrong, with the operations to read. */
  anomalies: string[];
  /** Acknowledged writes absent from the final state. */
  lost: string[];
  /** Keys the linearizability search could not decide within its bound (neither pass nor fail). */
  undecided: string[];
  /** Fault kind → the longest window without a successful write after each fault of that kind (ms). */
  gaps: Map<string, number[]>;
  /** One line per member process: memory and open files over its life, flagged when growing. */
  resources: string[];
  notes: string[];
}

const WRITES = new Set(["write", "add", "transfer"]);

/** Checks a history; see the module doc. */
export function checkHistory(records: HistoryRecord[]): Report {
  const meta = records.find((r): r is MetaRecord => r.type === "meta");
  if (!meta) throw new SyntaxError("Cannot check a history without its meta record");
  const ops = records.filter((r): r is OpRecord => r.type === "op");
  const faults = records.filter((r): r is FaultRecord => r.type === "fault");
  const final = records.find((r): r is FinalRecord => r.type === "final");
  const report: Report = {
    meta,
    faults: new Map(),
    faultCount: faults.length,
    ops: { total: ops.length, ok: 0, fail: 0, info: 0 },
    byWorkload: new Map(),
    anomalies: [],
    lost: [],
    undecided: [],
    gaps: new Map(),
    resources: [],
    notes: records.filter((r): r is NoteRecord => r.type === "note").map((n) => n.text),
  };
  for (const f of faults) report.faults.set(f.kind, (report.faults.get(f.kind) ?? 0) + 1);
  for (const o of ops) {
    report.ops[o.status]++;
    const w = report.byWorkload.get(o.workload) ?? { ok: 0, fail: 0, info: 0 };
    w[o.status]++;
    report.byWorkload.set(o.workload, w);
  }
  checkRegister(ops.filter((o) => o.workload === "register"), report);
  checkSet(ops.filter((o) => o.workload === "set"), final, report);
  checkBank(ops.filter((o) => o.workload === "bank"), final, meta, report);
  writeGaps(ops, faults, report);
  report.resources = resourceLines(records.filter((r): r is SampleRecord => r.type === "sample"));
  // A member that died by itself is a bug whatever the data says.
  for (const n of report.notes) {
    if (n.includes("exited by itself") || n.includes("did not end by itself")) report.anomalies.push(n);
  }
  return report;
}

function checkRegister(ops: OpRecord[], report: Report): void {
  const byKey = new Map<string, Operation<KvInput, KvOutput>[]>();
  for (const o of ops) {
    if (o.status === "fail") continue; // did not happen (a write refused, a read unanswered)
    const key = String(o.input.key);
    let list = byKey.get(key);
    if (!list) byKey.set(key, list = []);
    const note = `${o.member}, op ${o.id}`;
    if (o.f === "read") {
      list.push({
        client: o.client,
        input: { op: "get", key },
        output: { value: (o.output?.value ?? null) as string | null },
        call: o.call,
        ret: o.ret!,
        note,
      });
    } else {
      list.push({
        client: o.client,
        input: { op: "put", key, value: String(o.input.value) },
        output: o.status === "ok" ? {} : undefined,
        call: o.call,
        ret: o.status === "ok" ? o.ret! : Infinity,
        note,
      });
    }
  }
  for (const [key, list] of byKey) {
    const r = checkOperations(registerModel, list, LIMIT_PER_KEY);
    if (r.ok === false) {
      report.anomalies.push(`register ${key} is not linearizable: ${r.reason}\n    ${r.ops.join("\n    ")}`);
    } else if (r.ok === "unknown") report.undecided.push(`register ${key}: ${r.reason}`);
  }
}

function checkSet(ops: OpRecord[], final: FinalRecord | undefined, report: Report): void {
  if (ops.length === 0) return;
  if (!final || final.set === null) {
    report.anomalies.push("set: no final read succeeded, so no acknowledged add could be checked");
    return;
  }
  const present = new Set(final.set);
  const asked = new Map(ops.map((o) => [String(o.input.element), o]));
  for (const o of ops) {
    const e = String(o.input.element);
    if (o.status === "ok" && !present.has(e)) {
      report.lost.push(`set: ${e} acknowledged (${o.member}, op ${o.id}) but absent`);
    }
    if (o.status === "fail" && present.has(e)) {
      report.anomalies.push(`set: ${e} was refused (${o.error}; ${o.member}, op ${o.id}) yet is present`);
    }
  }
  for (const e of present) {
    if (!asked.has(e)) report.anomalies.push(`set: ${e} is present but was never added`);
  }
}

function checkBank(ops: OpRecord[], final: FinalRecord | undefined, meta: MetaRecord, report: Report): void {
  if (ops.length === 0) return;
  const bad = (b: Record<string, number>) => {
    const ids = Object.keys(b);
    const total = Object.values(b).reduce((a, x) => a + x, 0);
    if (ids.length !== meta.bankAccounts) return `${ids.length} accounts, not ${meta.bankAccounts}`;
    if (total !== meta.bankTotal) return `total ${total}, not ${meta.bankTotal}`;
    const neg = Object.entries(b).find(([, v]) => v < 0);
    return neg ? `account ${neg[0]} at ${neg[1]}` : null;
  };
  for (const o of ops) {
    if (o.f !== "read" || o.status !== "ok") continue;
    const why = bad(o.output!.balances as Record<string, number>);
    if (why) {
      report.anomalies.push(
        `bank: read ${o.id} on ${o.member} saw ${why}: ${JSON.stringify(o.output!.balances)}`,
      );
    }
  }
  if (!final || final.bank === null) {
    report.anomalies.push("bank: no final read succeeded");
    return;
  }
  const why = bad(final.bank);
  if (why) report.anomalies.push(`bank: the final read saw ${why}: ${JSON.stringify(final.bank)}`);
}

function writeGaps(ops: OpRecord[], faults: FaultRecord[], report: Report): void {
  const rets = ops.filter((o) => o.status === "ok" && WRITES.has(o.f)).map((o) => o.ret!).sort((a, b) =>
    a - b
  );
  const sorted = [...faults].sort((a, b) => a.start - b.start);
  const lastOp = ops.reduce((m, o) => Math.max(m, o.ret ?? o.call), 0);
  sorted.forEach((f, i) => {
    const until = sorted[i + 1]?.start ?? lastOp;
    let prev = f.start;
    let longest = 0;
    for (const t of rets) {
      if (t <= f.start) continue;
      if (t > until) break;
      longest = Math.max(longest, t - prev);
      prev = t;
    }
    longest = Math.max(longest, until - prev);
    const list = report.gaps.get(f.kind) ?? [];
    list.push(longest);
    report.gaps.set(f.kind, list);
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor((s.length - 1) / 2)]!;
}

/** Memory and open files per member process; "growing" when the last third sits well above the first. */
function resourceLines(samples: SampleRecord[]): string[] {
  const series = new Map<string, SampleRecord[]>();
  for (const s of samples) {
    const k = `${s.member} (pid ${s.pid})`;
    const l = series.get(k) ?? [];
    l.push(s);
    series.set(k, l);
  }
  const lines: string[] = [];
  for (const [k, l] of series) {
    if (l.length < 3) continue;
    const third = Math.max(1, Math.floor(l.length / 3));
    const early = l.slice(1, 1 + third);
    const late = l.slice(-third);
    const rss0 = median(early.map((s) => s.rssKb)) / 1024;
    const rss1 = median(late.map((s) => s.rssKb)) / 1024;
    const fd0 = median(early.map((s) => s.fds));
    const fd1 = median(late.map((s) => s.fds));
    const mins = ((l.at(-1)!.at - l[0]!.at) / 60_000).toFixed(1);
    // Growth shows only over minutes: warm-up alone doubles a young process's memory.
    const long = l.at(-1)!.at - l[0]!.at >= 5 * 60_000;
    const flags = [
      long && rss1 > rss0 * 1.5 && rss1 - rss0 > 30 ? "MEMORY GROWING" : "",
      long && fd1 > fd0 * 1.5 && fd1 - fd0 > 20 ? "OPEN FILES GROWING" : "",
    ].filter((f) => f).join(", ");
    lines.push(
      `${k}: ${mins} min, rss ${rss0.toFixed(0)} -> ${rss1.toFixed(0)} MiB (max ${
        (Math.max(...l.map((s) => s.rssKb)) / 1024).toFixed(0)
      }), ` +
        `fds ${fd0} -> ${fd1}${flags ? `  ${flags}` : ""}`,
    );
  }
  return lines;
}

/** The lines a run or `--check` prints, ending with the one line the check reads. */
export function describe(r: Report, historyPath: string): string[] {
  const out: string[] = [];
  const m = r.meta;
  out.push(
    `seed ${m.seed} (replay: deno task jepsen --seed ${m.seed} --time ${m.time} --nemesis ${m.nemesis} --members ${m.members}${
      m.pace && m.pace !== "normal" ? ` --pace ${m.pace}` : ""
    })`,
  );
  out.push(`faults by kind: ${[...r.faults].map(([k, n]) => `${k} ${n}`).join(", ") || "none"}`);
  for (const [w, c] of r.byWorkload) out.push(`ops ${w}: ${c.ok} ok, ${c.fail} failed, ${c.info} ambiguous`);
  for (const [k, g] of r.gaps) {
    out.push(
      `longest window without a successful write after ${k}: median ${(median(g) / 1000).toFixed(2)} s, max ${
        (Math.max(...g) / 1000).toFixed(2)
      } s (${g.length} faults)`,
    );
  }
  for (const l of r.resources) out.push(`resources ${l}`);
  for (const n of r.notes) out.push(`note: ${n}`);
  for (const u of r.undecided) out.push(`undecided: ${u}`);
  for (const l of r.lost.slice(0, 20)) out.push(`LOST ${l}`);
  for (const a of r.anomalies.slice(0, 20)) out.push(`ANOMALY ${a}`);
  out.push(`history: ${historyPath} (check again: deno task jepsen --check ${historyPath})`);
  out.push(summaryLine(r));
  return out;
}

/** `jepsen: F faults, O ops (A ok, B failed, C ambiguous), X anomalies, Y lost` (the check reads it). */
export function summaryLine(r: Report): string {
  return `jepsen: ${r.faultCount} faults, ${r.ops.total} ops (${r.ops.ok} ok, ${r.ops.fail} failed, ${r.ops.info} ambiguous), ` +
    `${r.anomalies.length} anomalies, ${r.lost.length} lost`;
}
