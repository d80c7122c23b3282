import { YAML } from "./yaml.ts";
import { naturalCompare } from "../../lib/util/mod.ts";

/** Output formats of listings, as lxc offers them. */
export const FORMATS = ["table", "csv", "json", "yaml", "compact"] as const;
export type Format = typeof FORMATS[number];

function width(s: string): number {
  // Display width: code points (wide characters are rare in what we print).
  return [...s].length;
}

function center(s: string, w: number): string {
  const gap = w - width(s);
  if (gap <= 0) return s;
  const left = Math.floor(gap / 2);
  return " ".repeat(left) + s + " ".repeat(gap - left);
}

function padRight(s: string, w: number): string {
  const gap = w - width(s);
  return gap > 0 ? s + " ".repeat(gap) : s;
}

/** Table styles: lxc's listings ("table"), borderless ("compact"), or no lines between rows ("plain"). */
/** Sorts rows in place as lxc's SortColumnsNaturally does: column by column, numbers by value. */
export function sortRowsNaturally(rows: string[][]): string[][] {
  return rows.sort((a, b) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = naturalCompare(a[i]!, b[i]!);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  });
}

export type TableStyle = "table" | "compact" | "plain";

/**
 * Draws a table the way lxc's tablewriter does: headers centred, cells left-aligned,
 * multi-line cells, a line between rows ("table"), none ("plain", lxd sql) or no borders
 * at all ("compact").
 */
export function drawTable(header: string[], rows: string[][], style: TableStyle = "table"): string {
  const cells = rows.map((r) => header.map((_, i) => (r[i] ?? "").split("\n")));
  const widths = header.map((h, i) => Math.max(width(h), ...cells.map((r) => Math.max(...r[i]!.map(width)))));
  const out: string[] = [];
  const line = "+" + widths.map((w) => "-".repeat(w + 2)).join("+") + "+";
  if (style !== "compact") {
    out.push(line);
    out.push("|" + header.map((h, i) => ` ${center(h, widths[i]!)} `).join("|") + "|");
    out.push(line);
    for (const r of cells) {
      const height = Math.max(...r.map((c) => c.length));
      for (let l = 0; l < height; l++) {
        out.push("|" + r.map((c, i) => ` ${padRight(c[l] ?? "", widths[i]!)} `).join("|") + "|");
      }
      if (style === "table") out.push(line);
    }
    if (style === "plain") out.push(line);
  } else {
    out.push(" " + header.map((h, i) => ` ${center(h, widths[i]!)} `).join("") + " ");
    for (const r of cells) {
      const height = Math.max(...r.map((c) => c.length));
      for (let l = 0; l < height; l++) {
        out.push(" " + r.map((c, i) => ` ${padRight(c[l] ?? "", widths[i]!)} `).join("") + " ");
      }
    }
  }
  return out.join("\n") + "\n";
}

function csvField(f: string): string {
  // Go's encoding/csv: quote when needed, doubling quotes.
  if (f === "") return f;
  if (/[",\r\n]/.test(f) || /^\s/.test(f)) return `"${f.replaceAll('"', '""')}"`;
  return f;
}

/** CSV rows without a header, as lxc prints them. */
export function toCsv(rows: string[][]): string {
  return rows.map((r) => r.map(csvField).join(",") + "\n").join("");
}

/** JSON as Go's encoder writes it: compact, HTML characters escaped, then a newline. */
export function toGoJson(value: unknown): string {
  return JSON.stringify(value ?? null).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`) +
    "\n";
}

/** YAML as lxc prints it: block style, list items not indented under their key. */
export function toYaml(value: unknown): string {
  if (value === null || value === undefined) return "null\n";
  return YAML.stringify(value, { indentSeq: false, lineWidth: 0 });
}

/** Renders a listing in any of lxc's formats; raw is what json and yaml print. */
export function renderList(format: Format, header: string[], rows: string[][], raw: unknown): string {
  switch (format) {
    case "table":
      return drawTable(header, rows);
    case "compact":
      return drawTable(header, rows, "compact");
    case "csv":
      return toCsv(rows.map((r) => r.map((c) => c.replaceAll("\n", ","))));
    case "json":
      return toGoJson(raw);
    case "yaml":
      return toYaml(raw);
  }
}

/** Go's "2006/01/02 15:04 MST" in UTC, as lxc's list-tokens commands print expiry. */
export function goShortTime(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())} ${p(d.getUTCHours())}:${
    p(d.getUTCMinutes())
  } UTC`;
}
