/**
 * Every refusal a driver answers with, in one place: each says why and, where it can, whether the
 * change may still have been made (a caller must not retry blindly what it cannot know).
 * @module
 */
import { StatusError } from "../util/mod.ts";

/**
 * A refusal is an answer, not a fault: nobody reads its stack, and a member that knows no leader,
 * or one cut off from its quorum, hands out many (the simulator thousands a second). So it is a
 * StatusError made without running Error's constructor, which costs 2-4 us in this runtime even
 * with no stack to capture. It is still `instanceof StatusError`/`Error`, with its status, name,
 * message and a one-line stack.
 */
function refusal(status: number, message: string): StatusError {
  const e = Object.create(StatusError.prototype) as StatusError;
  // The same own properties as a constructed one: status and name enumerable (JSON shows them),
  // message and stack not.
  const prop = (value: unknown, enumerable: boolean) => ({
    value,
    enumerable,
    writable: true,
    configurable: true,
  });
  return Object.defineProperties(e, {
    status: prop(status, true),
    name: prop("StatusError", true),
    message: prop(message, false),
    stack: prop(`StatusError: ${message}`, false),
  });
}

export const refuse = {
  notLeader: (leader: number) =>
    refusal(
      503,
      leader
        ? `Not the database leader (leader is member ${leader})`
        : "No database leader: the cluster may have lost quorum",
    ),
  shuttingDown: () => refusal(503, "The database is shutting down on this member"),
  stoppedInFlight: () =>
    refusal(
      503,
      "The database stopped on this member before the change was known to be committed: it may or may not have been made",
    ),
  failed: (e: Error) => refusal(503, `This member's database failed and stopped: ${e.message}`),
  failedInFlight: (e: Error) =>
    refusal(
      503,
      `This member's database failed and stopped before the change was known to be committed (it may or may not have been made): ${e.message}`,
    ),
  leadershipChanged: () => refusal(503, "Leadership changed before the change was committed: retry"),
  proposal: (reason: string) => refusal(503, `Proposal refused: ${reason}`),
  membershipChange: (reason: string) => refusal(409, `Membership change refused: ${reason}`),
  commitTimeout: () =>
    refusal(
      503,
      "Timed out waiting for the change to be committed: the cluster may have lost quorum",
    ),
  readTimeout: () =>
    refusal(
      503,
      "Timed out confirming the database leader for a read: the cluster may have lost quorum",
    ),
};
