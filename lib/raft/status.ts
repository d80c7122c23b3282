/** What a member's Raft core reports of itself (RawNode.status, the API's and metrics' view). */
import type { Raft } from "./raft.ts";
import type { Status } from "./types.ts";

export function statusOf(r: Raft): Status {
  const s: Status = {
    id: r.id,
    term: r.term,
    vote: r.vote,
    lead: r.lead,
    role: r.role,
    commit: r.log.committed,
    applied: r.log.applied,
  };
  if (r.role === "leader") {
    s.progress = {};
    for (const [id, pr] of [...r.prs].sort((a, b) => a[0] - b[0])) s.progress[id] = pr.view();
  }
  return s;
}
