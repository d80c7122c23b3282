/**
 * The harness's checks on hand-made histories: each kind of anomaly is caught (so a run that
 * reports 0 could have reported more), ambiguous writes are allowed either way, and a history
 * written to a file reads back to the same verdict (`--check FILE`).
 */
import assert from "node:assert/strict";
import { checkHistory, summaryLine } from "./checker.ts";
import { type HistoryRecord, HistoryWriter, type MetaRecord, type OpRecord, readHistory } from "./history.ts";

const META: MetaRecord = {
  type: "meta",
  seed: 7,
  time: 10,
  nemesis: "all",
  members: 3,
  started: "2026-01-01T00:00:00.000Z",
  bankAccounts: 2,
  bankTotal: 20,
};

let nextId = 1;
function op(p: Partial<OpRecord> & Pick<OpRecord, "workload" | "f" | "input" | "call">): OpRecord {
  return {
    type: "op",
    id: nextId++,
    client: 0,
    status: "ok",
    ret: p.call + 1,
    member: "m1",
    ...p,
  };
}

const write = (
  key: string,
  value: string,
  call: number,
  ret: number | null,
  status: OpRecord["status"] = "ok",
) => op({ workload: "register", f: "write", input: { key, value }, call, ret, status });
const read = (key: string, value: string | null, call: number, ret: number) =>
  op({ workload: "register", f: "read", input: { key }, output: { value }, call, ret });

Deno.test("checkHistory() passes a linearizable register history and counts outcomes", () => {
  const r = checkHistory([
    META,
    read("k", null, 0, 1),
    write("k", "a", 2, 3),
    read("k", "a", 4, 5),
    write("k", "b", 6, 9),
    read("k", "b", 7, 8), // concurrent with the write: may see it
    write("k", "c", 10, null, "info"),
    read("k", "b", 11, 12), // the ambiguous write has not happened (yet)
    read("k", "c", 13, 14), // now it has
  ]);
  assert.deepEqual(r.anomalies, []);
  assert.deepEqual(r.ops, { total: 8, ok: 7, fail: 0, info: 1 });
  assert.equal(summaryLine(r), "jepsen: 0 faults, 8 ops (7 ok, 0 failed, 1 ambiguous), 0 anomalies, 0 lost");
});

Deno.test("checkHistory() finds a stale read and a read of a refused write", () => {
  const stale = checkHistory([META, write("k", "a", 0, 1), write("k", "b", 2, 3), read("k", "a", 4, 5)]);
  assert.equal(stale.anomalies.length, 1);
  assert.match(stale.anomalies[0]!, /register k is not linearizable/);
  const refused = checkHistory([META, write("k", "a", 0, 1, "fail"), read("k", "a", 2, 3)]);
  assert.equal(refused.anomalies.length, 1);
});

Deno.test("checkHistory() counts acknowledged adds missing at the end as lost, refused ones present as anomalies", () => {
  const add = (element: string, status: OpRecord["status"] = "ok") =>
    op({ workload: "set", f: "add", input: { element }, call: 0, status, ret: status === "info" ? null : 1 });
  const r = checkHistory([
    META,
    add("jepsen-1"),
    add("jepsen-2"),
    add("jepsen-3", "info"),
    add("jepsen-4", "fail"),
    { type: "final", set: ["jepsen-1", "jepsen-4", "jepsen-9"], bank: null, at: 5 },
  ]);
  assert.deepEqual(r.lost.length, 1);
  assert.match(r.lost[0]!, /jepsen-2/);
  assert.equal(r.anomalies.length, 2); // jepsen-4 refused yet present, jepsen-9 never added
});

Deno.test("checkHistory() finds a bank read whose total moved, and a missing final read", () => {
  const bankRead = (balances: Record<string, number>) =>
    op({ workload: "bank", f: "read", input: {}, output: { balances }, call: 0 });
  const r = checkHistory([META, bankRead({ 1: 10, 2: 10 }), bankRead({ 1: 5, 2: 10 })]);
  assert.equal(r.anomalies.length, 2);
  assert.match(r.anomalies[0]!, /total 15, not 20/);
  assert.match(r.anomalies[1]!, /no final read/);
});

Deno.test("checkHistory() measures the longest window without a successful write after each fault", () => {
  const r = checkHistory([
    META,
    write("k", "a", 0, 100),
    { type: "fault", kind: "kill", detail: "kill -9 m1", start: 150, end: 900 },
    write("k", "b", 160, 1_150),
    write("k", "c", 1_160, 1_200),
  ]);
  assert.deepEqual(r.gaps.get("kill"), [1_000]);
});

Deno.test("a history written to a file reads back to the same verdict", async () => {
  const path = await Deno.makeTempFile({ suffix: ".jsonl" });
  try {
    const records: HistoryRecord[] = [
      META,
      write("k", "a", 0, 1),
      write("k", "b", 2, 3),
      read("k", "a", 4, 5),
    ];
    const w = new HistoryWriter(path);
    for (const r of records) w.add(r);
    w.close();
    const back = await readHistory(path);
    assert.deepEqual(back, records);
    assert.equal(summaryLine(checkHistory(back)), summaryLine(checkHistory(records)));
    await Deno.writeTextFile(path, "{not json\n");
    await assert.rejects(() => readHistory(path), /line 1/);
  } finally {
    await Deno.remove(path);
  }
});
