import assert from "node:assert/strict";
import { encodeBatch, GlobalFsm, LocalDB, RAFT_ROLE, type RaftNode } from "../db/mod.ts";
import { SqliteStorage } from "../raft_store/mod.ts";
import { parseClusterYaml, recoverFromQuorumLoss, validateEdit } from "./recover.ts";

const old: RaftNode[] = [
  { id: 1, name: "m1", address: "10.0.0.1:8443", role: RAFT_ROLE.voter },
  { id: 2, name: "m2", address: "10.0.0.2:8443", role: RAFT_ROLE.voter },
  { id: 3, name: "m3", address: "10.0.0.3:8443", role: RAFT_ROLE.standby },
  { id: 4, name: "m4", address: "10.0.0.4:8443", role: RAFT_ROLE.spare },
];
const doc = (f: (lines: string) => string = (x) => x) =>
  parseClusterYaml(f(`# Latest Raft log index: 9

members:
  - id: 1             # Internal ID of the member (Read-only)
    name: m1          # Name of the cluster member (Read-only)
    address: 10.0.0.1:8443   # Last known address of the member (Writeable)
    role: voter       # Last known role of the member (Writeable)
  - id: 2
    name: m2
    address: 10.0.0.2:8443
    role: voter
  - id: 3
    name: m3
    address: 10.0.0.3:8443
    role: stand-by
  - id: 4
    name: m4
    address: 10.0.0.4:8443
    role: spare
`));

Deno.test("cluster edit takes address and role changes and reads past the comments", () => {
  const next = doc((y) =>
    y.replace("10.0.0.1:8443", "10.1.0.1:8443").replace("role: stand-by", "role: voter")
  );
  validateEdit(old, next);
  assert.equal(next[0]!.address, "10.1.0.1:8443");
  assert.equal(next[2]!.role, "voter");
});

Deno.test("cluster edit enforces LXD's rules, each with its own message", () => {
  const refuse = (next: ReturnType<typeof doc>, msg: RegExp) =>
    assert.throws(() => validateEdit(old, next), msg);
  refuse(doc().slice(0, 3), /Removing cluster members is not supported/);
  refuse(
    [...doc(), { id: 5, name: "m5", address: "10.0.0.5:8443", role: "spare" }],
    /Adding cluster members/,
  );
  refuse(doc((y) => y.replace("id: 2", "id: 7")), /Changing cluster member ID/);
  refuse(doc((y) => y.replace("name: m2", "name: other")), /Changing cluster member name/);
  refuse(
    doc((y) => y.replace("role: spare", "role: voter")),
    /A "spare" cluster member cannot become a "voter"/,
  );
  refuse(
    doc((y) => y.replace(/role: voter(\s+# Last)/, "role: stand-by$1")),
    /Number of "voter" must be 2 or more/,
  );
  refuse(
    doc((y) => y.replace("10.0.0.2:8443", "10.0.0.1:8443")),
    /Two members have the address 10.0.0.1:8443/,
  );
  refuse(doc((y) => y.replace("10.0.0.2:8443", "nonsense")), /Invalid address "nonsense"/);
  assert.throws(() => doc((y) => y.replace("role: spare", "role: boss")), /Unknown raft role: "boss"/);
  assert.throws(() => parseClusterYaml("members: [\n"), /not valid YAML/);
  assert.throws(() => parseClusterYaml("nothing: here\n"), /no "members" list/);
});

Deno.test("a two-member cluster may keep a single voter", () => {
  const two = old.slice(0, 2);
  validateEdit(two, [
    { id: 1, name: "m1", address: "10.0.0.1:8443", role: "voter" },
    { id: 2, name: "m2", address: "10.0.0.2:8443", role: "stand-by" },
  ]);
});

Deno.test("recover-from-quorum-loss applies the whole log, keeps every row and leaves this member the only voter", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shoal-recover-" });
  try {
    const p = {
      dir,
      database: `${dir}/database`,
      localDb: `${dir}/database/local.db`,
      globalDb: `${dir}/database/global/db.sqlite`,
    };
    Deno.mkdirSync(`${dir}/database/global`, { recursive: true });
    const local = new LocalDB(p.localDb);
    local.update({ "cluster.https_address": "10.0.0.2:8443" });
    local.replaceRaftNodes(old.slice(0, 3));
    const storage = new SqliteStorage(local.db, `${dir}/database/global/raft.snapshot`);
    storage.bootstrap({ voters: [1, 2, 3], standbys: [], spares: [] });
    const put = (k: string) => encodeBatch([[{ sql: "INSERT INTO kv (k) VALUES (?)", params: [k] }]]);
    storage.persist({
      entries: [
        {
          index: 2,
          term: 2,
          type: "normal",
          data: encodeBatch([[{ sql: "CREATE TABLE kv (k TEXT)", params: [] }]]),
        },
        { index: 3, term: 2, type: "normal", data: put("committed") },
        { index: 4, term: 2, type: "conf", data: JSON.stringify({ type: "add-standby", id: 4 }) },
        { index: 5, term: 3, type: "normal", data: put("not yet committed here") },
      ],
      hardState: { term: 3, vote: 1, commit: 3 },
    });
    local.close();
    // The state machine had applied up to 2 when the others were lost.
    const before = new GlobalFsm(p.globalDb);
    before.apply(1, 1, "");
    before.apply(2, 2, encodeBatch([[{ sql: "CREATE TABLE kv (k TEXT)", params: [] }]]));
    before.close();

    const r = recoverFromQuorumLoss(p);
    assert.deepEqual({ id: r.id, index: r.index, dropped: r.dropped.map((n) => n.id) }, {
      id: 2,
      index: 5,
      dropped: [1, 3],
    });
    const fsm = new GlobalFsm(p.globalDb);
    assert.equal(fsm.appliedIndex, 5);
    assert.deepEqual(
      fsm.connection.prepare("SELECT k FROM kv ORDER BY k").all().map((x) => (x as { k: string }).k),
      ["committed", "not yet committed here"],
    );
    fsm.close();
    const after = new LocalDB(p.localDb);
    const s = new SqliteStorage(after.db, `${dir}/database/global/raft.snapshot`);
    assert.deepEqual(s.snapshotMeta, { index: 5, term: 3, conf: { voters: [2], standbys: [], spares: [] } });
    assert.equal(s.lastIndex(), 5);
    assert.equal(s.hardState.commit, 5);
    assert.deepEqual(after.raftNodes().map((n) => [n.id, n.role]), [[2, RAFT_ROLE.voter]]);
    after.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
