import { answerQueries, checkQueries, RAFT_ROLE, type RemoteQuery, type Row } from "../db/mod.ts";
import { CallLost } from "../transport/mod.ts";
import { errorMessage, sleep, StatusError, unavailable } from "../util/mod.ts";
import { STREAM_CALLS } from "./member_calls.ts";
import type { Self } from "./self.ts";
import { METRICS } from "../util/metrics.ts";

const remoteReads = METRICS.counter(
  "shoal_remote_reads_total",
  "Reads this member, holding no replica (a spare), sent to the database leader.",
);

/** How long a spare's read waits for a leader to answer. */
const LEADER_WAIT_MS = 10_000;

/**
 * Reads of a member that holds no replica of the database (a spare, as dqlite's spares: no log,
 * no copy): their SELECTs go to the leader on the call stream, and the leader answers them in one
 * read of its own (lib/db/remote_read.ts runs the read function in rounds over the answers).
 * Reads change nothing, so one that got no answer is simply asked again of the leader of the moment.
 */
export class RemoteReads {
  #self: Self;

  constructor(self: Self) {
    this.#self = self;
    self.streams.handle(STREAM_CALLS.read, async (req) => {
      let queries: RemoteQuery[];
      try {
        queries = checkQueries(req);
      } catch (e) {
        throw new StatusError(400, `Malformed read: ${errorMessage(e)}`);
      }
      // The leader, or a voter or stand-by: its read is linearizable too (a read index from the
      // leader), and one is known to a member that does not know the leader yet (a joiner, whose
      // Raft stream waits on this to tell who its peer is).
      if (!self.gateway.replica()) throw unavailable("This member holds no replica of the database");
      const stale = (req as { stale?: unknown }).stale === true;
      // The index read at, taken inside the read (it runs at once on this replica's state): a
      // spare renews these answers only once the leader's applied index passes it.
      let applied = 0;
      const rows = await self.db.read((tx) => {
        applied = self.fsm.appliedIndex;
        return answerQueries(tx, queries);
      }, { stale });
      return { rows, applied };
    });
  }

  /** From now on, the global database reads through here while this member holds no replica. */
  install(): void {
    this.#self.db.setRemoteReader((queries, stale) => this.#read(queries, stale));
  }

  /**
   * Whom to ask: the leader when it is known, first; after that, in turn, the voters and
   * stand-bys raft_nodes names. A spare learns a new leader only from the new leader's Raft
   * stream, and accepting that stream asks about its certificate: asking only the leader it
   * knows, gone, it could never learn the next one (a joiner, too, has the replicas from the
   * leader's answer before Raft tells it who leads).
   */
  #target(attempt: number): string | null {
    const g = this.#self.gateway;
    const leader = g.leader !== 0 && g.leader !== g.raftId ? g.leaderAddress() : null;
    if (leader && attempt % 2 === 0) return leader;
    const replicas = g.raftNodes().filter((n) =>
      n.id !== g.raftId && n.address !== "" && n.address !== leader &&
      (n.role === RAFT_ROLE.voter || n.role === RAFT_ROLE.standby)
    );
    if (replicas.length === 0) return leader;
    return replicas[Math.floor(attempt / (leader ? 2 : 1)) % replicas.length]!.address;
  }

  async #read(queries: RemoteQuery[], stale: boolean): Promise<{ rows: Row[][]; applied: number | null }> {
    const deadline = Date.now() + LEADER_WAIT_MS;
    let last: unknown = null;
    let attempt = 0;
    for (;;) {
      const address = this.#target(attempt++);
      if (address) {
        try {
          remoteReads.inc();
          // One member that does not answer must not hold the read: the next is asked after 2 s.
          const signal = AbortSignal.timeout(Math.max(1, Math.min(2_000, deadline - Date.now())));
          const r = await this.#self.streams.call(address, STREAM_CALLS.read, { queries, stale }, signal);
          return { rows: r.rows, applied: typeof r.applied === "number" ? r.applied : null };
        } catch (e) {
          // A refusal (not the leader any more, no quorum) or a lost stream: ask again. Anything
          // else (a query the leader's database refused) is the read's own answer.
          const again = e instanceof CallLost || isAbort(e) || (e instanceof StatusError && e.status === 503);
          if (!again) throw e;
          last = e;
        }
      }
      if (Date.now() > deadline) {
        throw unavailable(
          `No database leader answered this spare's read within ${LEADER_WAIT_MS / 1000} s${
            last ? ` (${errorMessage(last)})` : ": none is known"
          }`,
        );
      }
      await sleep(50);
    }
  }
}

function isAbort(e: unknown): boolean {
  return e instanceof DOMException && (e.name === "TimeoutError" || e.name === "AbortError");
}
