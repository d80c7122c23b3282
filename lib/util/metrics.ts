/**
 * Counters, gauges and histograms in Prometheus' text format (exposition format 0.0.4), for
 * `GET /1.0/metrics`. One registry per process (METRICS): the code that sees an event records it
 * in one line where it happens, without a registry handed down through every constructor, as
 * Prometheus' own client libraries do with their default registry.
 * @module
 */

export type MetricType = "counter" | "gauge" | "histogram";
export type Labels = Record<string, string>;

/** One family's samples as they travel between members (GET /internal/metrics). */
export interface Family {
  name: string;
  type: MetricType;
  help: string;
  /** Counters and gauges: one value per label set. */
  samples: { labels: Labels; value: number }[];
  /** Histograms: cumulative bucket counts (the bucket bounds are `bounds`), sum and count. */
  histograms?: { labels: Labels; buckets: number[]; sum: number; count: number }[];
  bounds?: number[];
}

/** Seconds: 0.5 ms to 10 s, for commit latency, heartbeat rounds and requests. */
export const LATENCY_BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

function key(labels: Labels): string {
  return Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join("\u0000");
}

class Series<T> {
  readonly map = new Map<string, { labels: Labels; v: T }>();
  get(labels: Labels, init: () => T): { labels: Labels; v: T } {
    const k = key(labels);
    let s = this.map.get(k);
    if (!s) {
      s = { labels: { ...labels }, v: init() };
      this.map.set(k, s);
    }
    return s;
  }
}

/** A family of counters (only ever go up) or gauges (set to the current value). */
export class Scalar {
  readonly #series = new Series<number>();
  constructor(readonly name: string, readonly type: "counter" | "gauge", readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    this.#series.get(labels, () => 0).v += by;
  }
  /** The series of these labels, to count on without finding it again (a caller's per-request path). */
  series(labels: Labels): { v: number } {
    return this.#series.get(labels, () => 0);
  }
  set(labels: Labels, value: number): void {
    this.#series.get(labels, () => 0).v = value;
  }
  family(): Family {
    const samples = [...this.#series.map.values()].map((s) => ({ labels: s.labels, value: s.v }));
    return { name: this.name, type: this.type, help: this.help, samples };
  }
}

/** A histogram of observations (seconds, usually) in fixed buckets. */
export class Histogram {
  readonly #series = new Series<{ counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly bounds = LATENCY_BOUNDS) {}
  observe(labels: Labels, value: number): void {
    this.observer(labels)(value);
  }
  /** What observes into the series of these labels, found once (a caller's per-request path). */
  observer(labels: Labels): (value: number) => void {
    const s = this.#series.get(labels, () => ({ counts: this.bounds.map(() => 0), sum: 0, count: 0 })).v;
    return (value) => {
      for (let i = 0; i < this.bounds.length; i++) if (value <= this.bounds[i]!) s.counts[i]!++;
      s.sum += value;
      s.count++;
    };
  }
  family(): Family {
    const histograms = [...this.#series.map.values()].map((s) => ({
      labels: s.labels,
      buckets: [...s.v.counts],
      sum: s.v.sum,
      count: s.v.count,
    }));
    return {
      name: this.name,
      type: "histogram",
      help: this.help,
      samples: [],
      histograms,
      bounds: this.bounds,
    };
  }
}

/** The metrics one process records; families by name, created on first use. */
export class Registry {
  readonly #families = new Map<string, Scalar | Histogram>();

  counter(name: string, help: string): Scalar {
    return this.#scalar(name, "counter", help);
  }
  gauge(name: string, help: string): Scalar {
    return this.#scalar(name, "gauge", help);
  }
  histogram(name: string, help: string, bounds = LATENCY_BOUNDS): Histogram {
    let f = this.#families.get(name);
    if (!f) this.#families.set(name, f = new Histogram(name, help, bounds));
    if (!(f instanceof Histogram)) throw new Error(`metric ${name} is not a histogram`);
    return f;
  }
  #scalar(name: string, type: "counter" | "gauge", help: string): Scalar {
    let f = this.#families.get(name);
    if (!f) this.#families.set(name, f = new Scalar(name, type, help));
    if (!(f instanceof Scalar) || f.type !== type) throw new Error(`metric ${name} is not a ${type}`);
    return f;
  }
  families(): Family[] {
    return [...this.#families.values()].map((f) => f.family());
  }
}

/** This process's registry. */
export const METRICS: Registry = new Registry();

/** A label value escaped as the text format wants (backslash, quote, newline). */
function escapeLabel(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function formatLabels(labels: Labels): string {
  const ks = Object.keys(labels);
  if (ks.length === 0) return "";
  return `{${ks.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(",")}}`;
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/**
 * Renders families as Prometheus text: a HELP and a TYPE line per family, then its samples.
 * Families of the same name (from several members) are merged under one header, as the format
 * requires each family once. `extra` labels are added to every sample (a member's location).
 */
export function renderText(parts: { families: Family[]; extra?: Labels }[]): string {
  const byName = new Map<string, { head: Family; lines: string[] }>();
  for (const { families, extra } of parts) {
    for (const f of families) {
      let e = byName.get(f.name);
      if (!e) byName.set(f.name, e = { head: f, lines: [] });
      if (e.head.type !== f.type) continue; // two members disagreeing on a type: keep the first
      for (const s of f.samples) {
        e.lines.push(`${f.name}${formatLabels({ ...s.labels, ...extra })} ${formatValue(s.value)}`);
      }
      for (const h of f.histograms ?? []) {
        const labels = { ...h.labels, ...extra };
        (f.bounds ?? []).forEach((b, i) => {
          e.lines.push(`${f.name}_bucket${formatLabels({ ...labels, le: String(b) })} ${h.buckets[i] ?? 0}`);
        });
        e.lines.push(`${f.name}_bucket${formatLabels({ ...labels, le: "+Inf" })} ${h.count}`);
        e.lines.push(`${f.name}_sum${formatLabels(labels)} ${formatValue(h.sum)}`);
        e.lines.push(`${f.name}_count${formatLabels(labels)} ${h.count}`);
      }
    }
  }
  const out: string[] = [];
  for (const { head, lines } of byName.values()) {
    out.push(`# HELP ${head.name} ${head.help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n")}`);
    out.push(`# TYPE ${head.name} ${head.type}`);
    out.push(...lines);
  }
  return out.join("\n") + "\n";
}

/** A family of counters or gauges made at collection time (not recorded in a registry). */
export function family(
  name: string,
  type: "counter" | "gauge",
  help: string,
  samples: { labels: Labels; value: number }[],
): Family {
  return { name, type, help, samples };
}
