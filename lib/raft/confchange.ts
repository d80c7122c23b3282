/**
 * Single-server membership changes on a ConfState: validation (so that a change that cannot
 * apply is refused at proposal time) and the pure application.
 * @module
 */
import type { ConfChange, ConfState, NodeId } from "./types.ts";

/** A configuration's own copy (three arrays of numbers: no need for structuredClone). */
export function cloneConf(c: ConfState): ConfState {
  return { voters: [...c.voters], standbys: [...c.standbys], spares: [...c.spares] };
}

export type MemberRole = "voter" | "standby" | "spare";

export function roleOf(cs: ConfState, id: NodeId): MemberRole | undefined {
  if (cs.voters.includes(id)) return "voter";
  if (cs.standbys.includes(id)) return "standby";
  if (cs.spares.includes(id)) return "spare";
  return undefined;
}

/** Why `cc` cannot apply to `cs`, or undefined when it can. */
export function checkConfChange(cs: ConfState, cc: ConfChange): string | undefined {
  if (typeof cc !== "object" || cc === null || !Number.isInteger(cc.id) || cc.id <= 0) {
    return "a membership change needs a positive integer id";
  }
  const role = roleOf(cs, cc.id);
  switch (cc.type) {
    case "add-voter":
      if (role === "voter") return `member ${cc.id} is already a voter`;
      return undefined;
    case "add-standby":
    case "add-spare": {
      const want = cc.type === "add-standby" ? "standby" : "spare";
      if (role === want) return `member ${cc.id} is already a ${want}`;
      if (role === "voter" && cs.voters.length === 1) return `member ${cc.id} is the last voter`;
      return undefined;
    }
    case "remove":
      if (role === undefined) return `member ${cc.id} is not in the configuration`;
      if (role === "voter" && cs.voters.length === 1) return `member ${cc.id} is the last voter`;
      return undefined;
    default:
      return `unknown membership change type ${JSON.stringify((cc as { type: unknown }).type)}`;
  }
}

/** `cs` with `cc` applied (a new object); `cc` must pass checkConfChange. */
export function applyToConf(cs: ConfState, cc: ConfChange): ConfState {
  const without = (ids: NodeId[]) => ids.filter((x) => x !== cc.id);
  const next: ConfState = {
    voters: without(cs.voters),
    standbys: without(cs.standbys),
    spares: without(cs.spares),
  };
  if (cc.type === "add-voter") next.voters.push(cc.id);
  else if (cc.type === "add-standby") next.standbys.push(cc.id);
  else if (cc.type === "add-spare") next.spares.push(cc.id);
  for (const l of [next.voters, next.standbys, next.spares]) l.sort((a, b) => a - b);
  return next;
}

/** Parses a conf entry's data; undefined when it is not a ConfChange. */
export function parseConfChange(data: string): ConfChange | undefined {
  try {
    const cc = JSON.parse(data);
    if (checkShape(cc)) return cc;
  } catch {
    // not JSON: not a conf change
  }
  return undefined;
}

function checkShape(cc: unknown): cc is ConfChange {
  if (typeof cc !== "object" || cc === null) return false;
  const o = cc as Record<string, unknown>;
  return ["add-voter", "add-standby", "add-spare", "remove"].includes(o.type as string) &&
    Number.isInteger(o.id) && (o.id as number) > 0;
}
