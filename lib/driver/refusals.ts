/**
 * Every refusal a driver answers with, in one place: each says why and, where it can, whether the
 * change may still have been made (a caller must not retry blindly what it cannot know).
 * @module
 */
import { StatusError } from "../util/mod.ts";

export const refuse = {
  notLeader: (leader: number) =>
    new StatusError(
      503,
      leader
        ? `Not the database leader (leader is member ${leader})`
        : "No database leader: the cluster may have lost quorum",
    ),
  shuttingDown: () => new StatusError(503, "The database is shutting down on this member"),
  stoppedInFlight: () =>
    new StatusError(
      503,
      "The database stopped on this member before the change was known to be committed: it may or may not have been made",
    ),
  failed: (e: Error) => new StatusError(503, `This member's database failed and stopped: ${e.message}`),
  failedInFlight: (e: Error) =>
    new StatusError(
      503,
      `This member's database failed and stopped before the change was known to be committed (it may or may not have been made): ${e.message}`,
    ),
  leadershipChanged: () => new StatusError(503, "Leadership changed before the change was committed: retry"),
  proposal: (reason: string) => new StatusError(503, `Proposal refused: ${reason}`),
  membershipChange: (reason: string) => new StatusError(409, `Membership change refused: ${reason}`),
  commitTimeout: () =>
    new StatusError(
      503,
      "Timed out waiting for the change to be committed: the cluster may have lost quorum",
    ),
  readTimeout: () =>
    new StatusError(
      503,
      "Timed out confirming the database leader for a read: the cluster may have lost quorum",
    ),
};
