import assert from "node:assert/strict";
import type { Event } from "../events/mod.ts";
import { RelayedOperations } from "./relayed_operations.ts";

const A = "127.0.0.2:8443";

function opEvent(id: string, status: string, status_code: number): Event {
  return {
    type: "operation",
    timestamp: new Date().toISOString(),
    location: "m2",
    project: "default",
    metadata: { id, class: "websocket", status, status_code, err: "" },
  };
}

/** A follower whose member answers as `answer` says, with what it delivered. */
function setup(answer: (id: string) => Promise<Record<string, unknown> | null | "unknown">) {
  const delivered: Event[] = [];
  const asked: string[] = [];
  const r = new RelayedOperations({
    deliver: (e) => void delivered.push(e),
    ask: (_address, id) => {
      asked.push(id);
      return answer(id);
    },
    nameOf: () => "m2",
    probeMs: 10,
  });
  return { r, delivered, asked };
}

const until = async (what: string, ok: () => boolean) => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(ok(), what);
};

Deno.test("operations of a member that stays unreachable end in a Failure naming it; ended ones are not followed", async () => {
  const { r, delivered, asked } = setup(() => Promise.reject(new Error("connect ECONNREFUSED")));
  r.seen(A, opEvent("a", "Running", 103));
  r.seen(A, opEvent("b", "Running", 103));
  r.seen(A, opEvent("b", "Success", 200));
  assert.deepEqual(r.followed(), ["a"]);
  const heard: string[] = [];
  const heardOther: string[] = [];
  r.whenFailed("a", (why) => heard.push(why));
  const stop = r.whenFailed("a", (why) => heardOther.push(why));
  stop();
  r.down(A);
  await until("a failed", () => delivered.length === 1);
  const m = delivered[0]!.metadata as Record<string, unknown>;
  assert.equal(m.id, "a");
  assert.equal(m.status, "Failure");
  assert.equal(m.status_code, 400);
  assert.match(
    String(m.err),
    /^Cluster member "m2" \(127\.0\.0\.2:8443\) that runs the operation is unreachable: connect ECONNREFUSED/,
  );
  assert.equal(delivered[0]!.location, "m2");
  assert.deepEqual(heard, [String(m.err)]); // a forwarded wait on "a" hears it too
  assert.deepEqual(heardOther, []);
  assert.deepEqual(asked, ["a", "a"]); // two rounds unreachable
  assert.deepEqual(r.followed(), []);
  r.stop();
});

Deno.test("a member that answers: an ended operation gets its real end, a lost one a Failure, a running one is left to the stream", async () => {
  const { r, delivered } = setup((id) =>
    Promise.resolve(
      id === "done"
        ? { id, status: "Success", status_code: 200, metadata: { return: 0 } }
        : id === "lost"
        ? null
        : { id, status: "Running", status_code: 103 },
    )
  );
  for (const id of ["done", "lost", "running"]) r.seen(A, opEvent(id, "Running", 103));
  r.down(A);
  r.up(A); // the stream is back (the member restarted, or it was a blip)
  await until("two ended", () => delivered.length === 2);
  await new Promise((res) => setTimeout(res, 50));
  const byId = Object.fromEntries(delivered.map((e) => [(e.metadata as { id: string }).id, e.metadata]));
  assert.deepEqual(Object.keys(byId).sort(), ["done", "lost"]);
  assert.equal((byId.done as { status: string }).status, "Success");
  assert.equal((byId.lost as { status: string }).status, "Failure");
  assert.equal(
    (byId.lost as { err: string }).err,
    'Cluster member "m2" no longer has the operation (it restarted)',
  );
  assert.deepEqual(r.followed(), ["running"]);
  r.stop();
});
