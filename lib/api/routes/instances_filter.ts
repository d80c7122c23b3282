/**
 * LXD's API filtering (`?filter=`): `field op value` clauses joined with `and` / `or`, with
 * `not` before a clause; fields are JSON paths (`name`, `status`, `config.image.os`,
 * `expanded_config.limits.cpu`), ops `eq` and `ne`. `and` binds tighter than `or`.
 */
import { badRequest } from "../../util/mod.ts";

interface Clause {
  field: string;
  op: "eq" | "ne";
  value: string;
  not: boolean;
}

/** OR of ANDs. */
export type Filter = Clause[][];

function tokens(s: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (const m of s.matchAll(re)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

/** Parses a filter; 400 "Invalid filter" as LXD when it is malformed. */
export function parseFilter(text: string): Filter {
  const t = tokens(text.trim());
  if (t.length === 0) return [];
  const out: Filter = [[]];
  let i = 0;
  while (i < t.length) {
    let not = false;
    if (t[i] === "not") {
      not = true;
      i++;
    }
    const [field, op, value] = [t[i], t[i + 1], t[i + 2]];
    if (field === undefined || value === undefined || (op !== "eq" && op !== "ne")) {
      throw badRequest(`Invalid filter: ${text}`);
    }
    out[out.length - 1]!.push({ field, op, value, not });
    i += 3;
    if (i < t.length) {
      if (t[i] === "and") i++;
      else if (t[i] === "or") {
        out.push([]);
        i++;
      } else throw badRequest(`Invalid filter: ${text}`);
    }
  }
  return out;
}

function lookup(obj: unknown, field: string): string | undefined {
  // Map keys may contain dots (config.image.os): try the longest key at each level.
  const parts = field.split(".");
  let cur: unknown = obj;
  let i = 0;
  while (i < parts.length) {
    if (cur === null || typeof cur !== "object") return undefined;
    const rec = cur as Record<string, unknown>;
    let found = false;
    for (let j = parts.length; j > i; j--) {
      const key = parts.slice(i, j).join(".");
      if (key in rec) {
        cur = rec[key];
        i = j;
        found = true;
        break;
      }
    }
    if (!found) return undefined;
  }
  return cur === undefined || cur === null ? undefined : String(cur);
}

/** Whether an object passes a filter (an empty filter passes everything). */
export function matchesFilter(f: Filter, obj: unknown): boolean {
  if (f.length === 0) return true;
  return f.some((all) =>
    all.every((c) => {
      const v = lookup(obj, c.field);
      const same = v !== undefined &&
        (c.field === "status" ? v.toLowerCase() === c.value.toLowerCase() : v === c.value);
      const r = c.op === "eq" ? same : !same;
      return c.not ? !r : r;
    })
  );
}
