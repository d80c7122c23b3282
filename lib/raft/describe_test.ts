import assert from "node:assert/strict";
import { describeEntry, describeMessage, describeReady } from "./describe.ts";

Deno.test("describe: entries and messages print deterministically", () => {
  assert.equal(describeEntry({ index: 3, term: 2, type: "normal", data: "x" }), '2/3 "x"');
  assert.equal(
    describeEntry({ index: 4, term: 2, type: "conf", data: '{"type":"remove","id":3}' }),
    "2/4 conf remove 3",
  );
  assert.equal(
    describeMessage({ type: "vote", from: 1, to: 2, term: 3, index: 5, logTerm: 2, transfer: true }),
    "1->2 vote Term:3 Log:2/5 Transfer",
  );
  assert.equal(
    describeMessage({ type: "app-resp", from: 2, to: 1, term: 3, index: 7, reject: true, hint: 4 }),
    "2->1 app-resp Term:3 Index:7 Rejected (Hint: 4)",
  );
});

Deno.test("describe: a Ready lists its parts in the order the driver handles them", () => {
  const text = describeReady({
    softState: { lead: 1, role: "leader" },
    hardState: { term: 2, vote: 1, commit: 3 },
    entries: [{ index: 4, term: 2, type: "normal", data: "" }],
    messages: [{ type: "heartbeat", from: 1, to: 2, term: 2, commit: 3, ctx: "" }],
    committedEntries: [{ index: 3, term: 2, type: "normal", data: "a" }],
    readStates: [{ index: 3, ctx: "r" }],
  });
  assert.equal(
    text,
    [
      "Lead:1 Role:leader",
      "HardState Term:2 Vote:1 Commit:3",
      "Entries:",
      '  2/4 ""',
      "CommittedEntries:",
      '  2/3 "a"',
      "Messages:",
      "  1->2 heartbeat Term:2 Commit:3",
      "ReadStates:",
      '  Index:3 Ctx:"r"',
    ].join("\n"),
  );
});
