/**
 * A progress line for long transfers, as lxc draws one: on a terminal only (nothing when the
 * output is piped or --quiet), rewritten in place at most ten times a second, cleared when done.
 *
 *   Transferring image: 45% (12.3MB of 27.4MB, 8.21MB/s)
 */

/** Bytes as lxc prints them (decimal units, like its progress). */
export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return i === 0 ? `${n}B` : `${n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2)}${units[i]}`;
}

/** The text of one progress line (no carriage return). */
export function progressText(label: string, done: number, total: number, seconds: number): string {
  const rate = seconds > 0 ? `${formatBytes(Math.round(done / seconds))}/s` : "";
  if (total > 0) {
    const pct = Math.min(100, Math.floor((done / total) * 100));
    return `${label}: ${pct}% (${formatBytes(done)} of ${formatBytes(total)}${rate ? `, ${rate}` : ""})`;
  }
  return `${label}: ${formatBytes(done)}${rate ? ` (${rate})` : ""}`;
}

export interface ProgressSink {
  isTerminal(): boolean;
  writeSync(b: Uint8Array): number;
}

export class Progress {
  readonly #label: string;
  readonly #out: ProgressSink | null;
  readonly #t0 = performance.now();
  #last = 0;
  #width = 0;

  /** A progress line on out (stdout), or nothing at all when it is not a terminal or quiet. */
  constructor(label: string, o: { quiet?: boolean; out?: ProgressSink } = {}) {
    this.#label = label;
    const out = o.out ?? Deno.stdout;
    this.#out = !o.quiet && out.isTerminal() ? out : null;
  }

  get shown(): boolean {
    return this.#out !== null;
  }

  update(done: number, total: number): void {
    if (!this.#out) return;
    const now = performance.now();
    if (done < total && now - this.#last < 100) return;
    this.#last = now;
    const text = progressText(this.#label, done, total, (now - this.#t0) / 1000);
    this.#write(`\r${text.padEnd(this.#width)}`);
    this.#width = text.length;
  }

  /** Clears the line: what follows starts at its beginning. */
  done(): void {
    if (!this.#out || this.#width === 0) return;
    this.#write(`\r${" ".repeat(this.#width)}\r`);
    this.#width = 0;
  }

  #write(s: string): void {
    this.#out!.writeSync(new TextEncoder().encode(s));
  }
}
