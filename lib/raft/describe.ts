/**
 * Deterministic one-line descriptions of messages, entries and Ready batches, for golden
 * interaction tests and for traces. The same input always prints the same text.
 * @module
 */
import type { ConfState, Entry, HardState, Message, Ready, Snapshot, SoftState, Status } from "./types.ts";

function q(s: string): string {
  return JSON.stringify(s);
}

export function describeEntry(e: Entry): string {
  if (e.type === "conf") {
    let cc = e.data;
    try {
      const o = JSON.parse(e.data);
      cc = `${o.type} ${o.id}`;
    } catch { /* show the raw data */ }
    return `${e.term}/${e.index} conf ${cc}`;
  }
  return `${e.term}/${e.index} ${q(e.data)}`;
}

export function describeEntries(ents: readonly Entry[]): string {
  return `[${ents.map(describeEntry).join(", ")}]`;
}

export function describeConfState(c: ConfState): string {
  const l = (ids: number[]) => `(${[...ids].sort((a, b) => a - b).join(" ")})`;
  return `voters=${l(c.voters)} standbys=${l(c.standbys)} spares=${l(c.spares)}`;
}

export function describeSnapshot(s: Snapshot): string {
  return `Snapshot Index:${s.meta.index} Term:${s.meta.term} ${
    describeConfState(s.meta.conf)
  } Data:${s.data.length}B`;
}

export function describeHardState(h: HardState): string {
  return `HardState Term:${h.term} Vote:${h.vote} Commit:${h.commit}`;
}

export function describeSoftState(s: SoftState): string {
  return `Lead:${s.lead} Role:${s.role}`;
}

export function describeMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} Term:${m.term}`;
  switch (m.type) {
    case "app":
      return `${head} Log:${m.logTerm}/${m.index} Commit:${m.commit}` +
        (m.entries.length > 0 ? ` Entries:${describeEntries(m.entries)}` : "");
    case "app-resp":
      return `${head} Index:${m.index}` + (m.reject ? ` Rejected (Hint: ${m.hint})` : "");
    case "heartbeat":
      return `${head} Commit:${m.commit}` + (m.ctx !== "" ? ` Ctx:${q(m.ctx)}` : "");
    case "heartbeat-resp":
      return head + (m.ctx !== "" ? ` Ctx:${q(m.ctx)}` : "");
    case "vote":
    case "pre-vote":
      return `${head} Log:${m.logTerm}/${m.index}` + (m.transfer ? " Transfer" : "");
    case "vote-resp":
    case "pre-vote-resp":
      return head + (m.reject ? " Rejected" : "");
    case "snap":
      return `${head} ${describeSnapshot(m.snapshot)}`;
    case "snap-status":
      return `${head} Index:${m.index}` + (m.reject ? " Rejected" : "");
    case "timeout-now":
      return head;
    case "read-index":
      return `${head} Ctx:${q(m.ctx)}`;
    case "read-index-resp":
      return `${head} Ctx:${q(m.ctx)} Index:${m.index}` + (m.reject ? " Rejected" : "");
  }
}

/** One line per part of the Ready, indented, in the order the driver handles them. */
export function describeReady(rd: Ready): string {
  const out: string[] = [];
  if (rd.softState) out.push(describeSoftState(rd.softState));
  if (rd.hardState) out.push(describeHardState(rd.hardState));
  if (rd.entries.length > 0) {
    out.push("Entries:");
    for (const e of rd.entries) out.push(`  ${describeEntry(e)}`);
  }
  if (rd.snapshot) out.push(describeSnapshot(rd.snapshot));
  if (rd.committedEntries.length > 0) {
    out.push("CommittedEntries:");
    for (const e of rd.committedEntries) out.push(`  ${describeEntry(e)}`);
  }
  if (rd.messages.length > 0) {
    out.push("Messages:");
    for (const m of rd.messages) out.push(`  ${describeMessage(m)}`);
  }
  if (rd.readStates.length > 0) {
    out.push("ReadStates:");
    for (const r of rd.readStates) out.push(`  Index:${r.index} Ctx:${q(r.ctx)}`);
  }
  return out.join("\n");
}

export function describeStatus(s: Status): string {
  const lines = [
    `${s.id}: Term:${s.term} Vote:${s.vote} Lead:${s.lead} Role:${s.role} Commit:${s.commit} Applied:${s.applied}`,
  ];
  if (s.progress) {
    for (const [id, p] of Object.entries(s.progress)) {
      lines.push(`  ${id}: ${p.state} match=${p.match} next=${p.next}` + (p.recentActive ? "" : " inactive"));
    }
  }
  return lines.join("\n");
}
