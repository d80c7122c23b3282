/**
 * Shape checks for messages from peers, so that a malformed or forged message is dropped
 * quietly instead of reaching the algorithm.
 * @module
 */
import type { ConfState, Entry, Message, NodeId } from "./types.ts";

/** Message fields without the ones the sender fills in (from, and term unless given). */
export type Outgoing = Message extends infer M
  ? M extends Message ? Omit<M, "from" | "term"> & { term?: number } : never
  : never;

const isIndex = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const isBool = (x: unknown): x is boolean => typeof x === "boolean";
const isStr = (x: unknown): x is string => typeof x === "string";
const isIds = (x: unknown): boolean => Array.isArray(x) && x.every((i) => isIndex(i) && i > 0);

function isEntry(e: unknown): e is Entry {
  if (typeof e !== "object" || e === null) return false;
  const o = e as Record<string, unknown>;
  return isIndex(o.index) && o.index > 0 && isIndex(o.term) && (o.type === "normal" || o.type === "conf") &&
    isStr(o.data);
}

function isConf(c: unknown): c is ConfState {
  if (typeof c !== "object" || c === null) return false;
  const o = c as Record<string, unknown>;
  return isIds(o.voters) && isIds(o.standbys) && isIds(o.spares);
}

/** True when `m` is a well-formed message addressed to `self` from another member. */
export function isValidMessage(m: unknown, self: NodeId): m is Message {
  if (typeof m !== "object" || m === null) return false;
  const o = m as Record<string, unknown>;
  if (o.to !== self || !isIndex(o.from) || o.from === 0 || o.from === self || !isIndex(o.term)) return false;
  switch (o.type) {
    case "app":
      return isIndex(o.index) && isIndex(o.logTerm) && isIndex(o.commit) && Array.isArray(o.entries) &&
        o.entries.every(isEntry);
    case "app-resp":
      return isIndex(o.index) && isIndex(o.hint) && isBool(o.reject);
    case "heartbeat":
      return isIndex(o.commit) && isStr(o.ctx);
    case "heartbeat-resp":
    case "read-index":
      return isStr(o.ctx);
    case "vote":
    case "pre-vote":
      return isIndex(o.index) && isIndex(o.logTerm) && isBool(o.transfer);
    case "vote-resp":
    case "pre-vote-resp":
      return isBool(o.reject);
    case "snap": {
      const s = o.snapshot as Record<string, unknown> | null;
      if (typeof s !== "object" || s === null) return false;
      const meta = s.meta as Record<string, unknown> | null;
      return typeof meta === "object" && meta !== null && isIndex(meta.index) && isIndex(meta.term) &&
        isConf(meta.conf);
    }
    case "snap-status":
      return isIndex(o.index) && isBool(o.reject);
    case "timeout-now":
      return true;
    case "read-index-resp":
      return isStr(o.ctx) && isIndex(o.index) && isBool(o.reject);
    default:
      return false;
  }
}
