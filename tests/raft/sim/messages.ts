/**
 * Messages as the simulator's trace shows them, and as its network delivers them: copied, so
 * that sender and receiver share nothing, as over a real transport.
 * @module
 */
import type { Message } from "../../../lib/raft/types.ts";

export const describeMessage = (m: Message): string => {
  const base = `${m.from}->${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case "app":
      return `${base} after ${m.index}/${m.logTerm} +${m.entries.length} commit ${m.commit}`;
    case "app-resp":
      return `${base} ${m.reject ? `reject ${m.index} hint ${m.hint}` : `ok ${m.index}`}`;
    case "vote":
    case "pre-vote":
      return `${base} log ${m.index}/${m.logTerm}${m.transfer ? " transfer" : ""}`;
    case "vote-resp":
    case "pre-vote-resp":
      return `${base} ${m.reject ? "reject" : "grant"}`;
    case "heartbeat":
      return `${base} commit ${m.commit}${m.ctx ? ` ctx ${m.ctx}` : ""}`;
    case "snap":
      return `${base} at ${m.snapshot.meta.index}/${m.snapshot.meta.term}`;
    case "snap-status":
    case "read-index-resp":
      return `${base} ${"index" in m ? m.index : ""}${m.reject ? " reject" : ""}`;
    default:
      return base;
  }
};

/** A copy as a real transport would deliver: nothing shared between sender and receiver. */
export const copyMessage = (m: Message): Message => {
  if (m.type === "app") return { ...m, entries: m.entries.map((e) => ({ ...e })) };
  if (m.type === "snap") {
    const meta = m.snapshot.meta;
    return {
      ...m,
      snapshot: {
        meta: {
          ...meta,
          conf: {
            voters: [...meta.conf.voters],
            standbys: [...meta.conf.standbys],
            spares: [...meta.conf.spares],
          },
        },
        data: m.snapshot.data,
      },
    };
  }
  return { ...m };
};
