/** Small helpers shared by the core's modules. @module */
import type { Entry } from "./types.ts";

/** Bytes an entry counts for in size limits: its data. */
export function entrySize(e: Entry): number {
  return e.data.length;
}

export function entriesSize(ents: readonly Entry[]): number {
  let n = 0;
  for (const e of ents) n += entrySize(e);
  return n;
}

/**
 * The longest prefix of `ents` within `maxBytes` of data, but at least one entry, so that a
 * large entry still moves. `maxBytes` 0 means one entry at a time.
 */
export function limitSize(ents: Entry[], maxBytes: number | undefined): Entry[] {
  if (maxBytes === undefined || maxBytes === Infinity || ents.length <= 1) return ents;
  if (maxBytes <= 0) return ents.slice(0, 1);
  let size = 0;
  let i = 0;
  for (const e of ents) {
    size += entrySize(e);
    if (i > 0 && size > maxBytes) return ents.slice(0, i);
    i++;
  }
  return ents;
}

/** True for the errors Storage throws for an index out of its range (recognised by name). */
export function isCompacted(err: unknown): boolean {
  return err instanceof Error && err.name === "CompactedError";
}

export function isUnavailable(err: unknown): boolean {
  return err instanceof Error && err.name === "UnavailableError";
}
