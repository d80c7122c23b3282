/**
 * The seed's recovery walkthroughs, end to end with real daemons, in one cluster's life:
 * a leftover Raft member (no `nodes` row) found by the doctor and removed with
 * `shoald cluster remove-raft-node`; 2 of 3 voters lost, `list-database` and
 * `recover-from-quorum-loss` on the survivor (refused while it runs), the lost members removed
 * with --force and two new members joined; then every member's address changed with
 * `shoald cluster edit` (YAML on stdin, and the recovery tarball imported on the last one),
 * the cluster back with every member ONLINE and nothing lost. The doctor diagnoses each
 * situation before its fix and reports healthy after. Addresses 127.0.0.153-159.
 */
import assert from "node:assert/strict";
import { clusterList, formCluster, joinMember } from "../helpers/cluster.ts";
import { type Member, run, SHOALD, tempDir, waitFor } from "../helpers/member.ts";

interface Report {
  healthy: boolean;
  summary: string;
  problems: { kind: string; summary: string; fix: string[] }[];
}

async function doctor(m: Member): Promise<Report> {
  const r = await m.shoal(["cluster", "doctor", "--format", "json"]);
  assert.ok(r.code === 0 || r.code === 1, `doctor failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function healthy(m: Member): Promise<void> {
  await waitFor(
    "the doctor to report healthy",
    async () => {
      const r = await m.shoal(["cluster", "doctor"]);
      return r.code === 0 && r.stdout.trim().split("\n").length === 1 && /healthy/.test(r.stdout);
    },
    30_000,
    500,
  );
}

async function allOnline(via: Member, n: number, urls?: string[]): Promise<void> {
  await waitFor(
    `${n} members ONLINE`,
    async () => {
      const rows = await clusterList(via);
      if (rows.length !== n || rows.some((r) => r.state !== "ONLINE")) return false;
      return !urls || urls.every((u) => rows.some((r) => r.url === u));
    },
    60_000,
    250,
  );
}

async function shutdown(m: Member): Promise<void> {
  m.expectExit();
  const r = await m.shoald(["shutdown", "--timeout", "25"]);
  assert.equal(r.code, 0, `shoald shutdown of ${m.name}: ${r.stderr}`);
  await m.process?.status;
  m.process = null;
}

async function ok(m: Member, args: string[], stdin?: string): Promise<string> {
  const r = await m.shoald(args, { stdin });
  assert.equal(r.code, 0, `shoald ${args.join(" ")} on ${m.name}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

Deno.test("leftover Raft member, quorum loss and changed addresses, each diagnosed and fixed", async () => {
  await using tmp = await tempDir("day2-recovery");
  const [m1, m2, m3] = await formCluster(tmp.path, ["127.0.0.153", "127.0.0.154", "127.0.0.155"]);
  const members: Member[] = [m1!, m2!, m3!];
  try {
    assert.equal((await m1!.shoal(["config", "set", "user.marker", "v1"])).code, 0);

    // A leftover Raft member: m4 dies and its row goes, as after an unclean removal.
    const m4 = await joinMember(tmp.path, m1!, "m4", "127.0.0.156");
    members.push(m4);
    await allOnline(m1!, 4);
    await m4.kill();
    const del = await m1!.shoald(["sql", "global", "DELETE FROM nodes WHERE name = 'm4'"]);
    assert.equal(del.code, 0, del.stderr);
    const left = (await doctor(m1!)).problems.find((p) => p.kind === "leftover-raft-member");
    assert.ok(left, "the doctor misses the leftover Raft member");
    assert.deepEqual(left.fix, ["shoald cluster remove-raft-node 127.0.0.156:8443 --quiet"]);
    const refusedRow = await m1!.shoald(["cluster", "remove-raft-node", "127.0.0.154", "--quiet"]);
    assert.notEqual(refusedRow.code, 0, "remove-raft-node removed a current member");
    assert.match(refusedRow.stderr, /lxc cluster remove m2/);
    await ok(m2!, ["cluster", "remove-raft-node", "127.0.0.156", "--quiet"]);
    await waitFor("m4 out of every raft_nodes", async () => {
      for (const m of [m1!, m2!, m3!]) {
        const r = await m.shoald(["sql", "local", "SELECT address FROM raft_nodes", "--format", "csv"]);
        if (r.stdout.includes("127.0.0.156")) return false;
      }
      return true;
    });
    await healthy(m1!);

    // Quorum loss: m2 and m3 die for good.
    await m2!.kill();
    await m3!.kill();
    const lost = await waitFor(
      "the doctor to see the lost quorum",
      async () => {
        return (await doctor(m1!)).problems.find((p) => p.kind === "quorum-lost");
      },
      30_000,
      500,
    );
    const steps = lost.fix.join("\n");
    assert.match(steps, /shoald cluster recover-from-quorum-loss --quiet {3}# on m1/);
    assert.match(steps, /lxc cluster remove m2 --force --yes/);
    const write = await m1!.shoal(["config", "set", "user.noquorum", "1"]);
    assert.notEqual(write.code, 0, "m1 wrote without quorum");
    const running = await m1!.shoald(["cluster", "recover-from-quorum-loss", "--quiet"]);
    assert.notEqual(running.code, 0);
    assert.match(running.stderr, /please stop it first/);
    await shutdown(m1!);
    const voters = await ok(m1!, ["cluster", "list-database"]);
    for (const a of ["127.0.0.153", "127.0.0.154", "127.0.0.155"]) {
      assert.match(voters, new RegExp(`${a}:8443`));
    }
    // sql local reads the stopped member's own database; sql global needs the daemon.
    const local = await ok(m1!, [
      "sql",
      "local",
      "SELECT address FROM raft_nodes ORDER BY id",
      "--format",
      "csv",
    ]);
    assert.equal(local, "127.0.0.153:8443\n127.0.0.154:8443\n127.0.0.155:8443\n");
    const global = await m1!.shoald(["sql", "global", "SELECT * FROM nodes"]);
    assert.notEqual(global.code, 0);
    assert.match(global.stderr, /daemon is not running/);
    const aborted = await m1!.shoald(["cluster", "recover-from-quorum-loss"], { stdin: "no\n" });
    assert.notEqual(aborted.code, 0);
    assert.match(aborted.stderr, /Recover operation aborted/);
    await ok(m1!, ["cluster", "recover-from-quorum-loss", "--quiet"]);
    await m1!.start();
    await waitFor(
      "a write after the recovery",
      async () => {
        return (await m1!.shoal(["config", "set", "user.recovered", "1"])).code === 0;
      },
      30_000,
      200,
    );
    assert.equal((await m1!.shoal(["config", "get", "user.marker"])).stdout.trim(), "v1");
    const names = (await clusterList(m1!)).map((r) => r.name).sort();
    assert.deepEqual(names, ["m1", "m2", "m3"], "the recovery deleted members from the database");
    for (const n of ["m2", "m3"]) {
      const r = await m1!.shoal(["cluster", "remove", n, "--force", "--yes"]);
      assert.equal(r.code, 0, r.stderr);
    }
    const m5 = await joinMember(tmp.path, m1!, "m5", "127.0.0.156");
    const m6 = await joinMember(tmp.path, m1!, "m6", "127.0.0.157");
    members.push(m5, m6);
    await allOnline(m1!, 3);
    assert.equal((await m6.shoal(["config", "get", "user.marker"])).stdout.trim(), "v1");
    await healthy(m5);

    // Every address changes: m1 .153 -> .158, m5 .156 -> .159, m6 .157 -> .154.
    const moves: [string, string][] = [
      ["127.0.0.153:8443", "127.0.0.158:8443"],
      ["127.0.0.156:8443", "127.0.0.159:8443"],
      ["127.0.0.157:8443", "127.0.0.154:8443"],
    ];
    for (const m of [m6, m5, m1!]) await shutdown(m);
    const edit = (yaml: string) => moves.reduce((y, [from, to]) => y.replaceAll(from, to), yaml);
    // m5 in $EDITOR (on a terminal, as an operator would): its first document is refused (no
    // voters left) and comes back with the error on top; the second one is taken.
    const editor = `${tmp.path}/editor.sh`;
    await Deno.writeTextFile(
      editor,
      `#!/bin/sh
n=$(cat "$0.n" 2>/dev/null || echo 0); n=$((n + 1)); echo $n >"$0.n"
if [ $n = 1 ]; then sed -i 's/role: voter/role: spare/' "$1"; exit 0; fi
cp "$1" "$0.seen"
sed -i -e 's/role: spare/role: voter/' ${moves.map(([f, t]) => `-e 's/${f}/${t}/'`).join(" ")} "$1"
`,
    );
    await Deno.chmod(editor, 0o755);
    const tty = await run("script", ["-qec", `${SHOALD} cluster edit`, "/dev/null"], {
      env: { ...m5.env, EDITOR: editor },
      stdin: "\n",
    });
    assert.equal(tty.code, 0, tty.stdout + tty.stderr);
    assert.match(tty.stdout, /Config validation error: Number of "voter" must be 2 or more/);
    const seen = await Deno.readTextFile(`${editor}.seen`);
    assert.match(seen, /^# Error: Number of "voter" must be 2 or more\n/);
    assert.match(await ok(m5, ["cluster", "show"]), /address: 127\.0\.0\.159:8443/);
    for (const m of [m1!]) {
      const shown = await ok(m, ["cluster", "show"]);
      assert.match(shown, /# Internal ID of the member \(Read-only\)/);
      assert.match(shown, /address: 127\.0\.0\.157:8443 +# Last known address of the member \(Writeable\)/);
      // A refused document changes nothing.
      const bad = await m.shoald(["cluster", "edit"], {
        stdin: shown.replace(/role: voter/g, "role: stand-by"),
      });
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /At least one member must be a "voter"|must be 2 or more/);
      assert.equal(await ok(m, ["cluster", "show"]), shown);
      await ok(m, ["cluster", "edit"], edit(shown));
    }
    // m1 and m5 come back at their new addresses; m6, not edited yet, is missing.
    await m1!.start();
    await m5.start();
    const missing = await waitFor(
      "the doctor to name m6",
      async () => {
        return (await doctor(m1!)).problems.find((p) =>
          p.kind === "member-unreachable" && /m6/.test(p.summary)
        );
      },
      30_000,
      500,
    );
    assert.match(missing.fix.join("\n"), /shoald cluster edit/);
    // m6 takes the edit from m1's recovery tarball instead of editing by hand.
    await ok(m6, ["cluster", "edit", "--import", `${m1!.dir}/database/recovery_db.tar.gz`]);
    await m6.start();
    await allOnline(m1!, 3, [
      "https://127.0.0.158:8443",
      "https://127.0.0.159:8443",
      "https://127.0.0.154:8443",
    ]);
    for (
      const [m, a] of [[m1!, "127.0.0.158:8443"], [m5, "127.0.0.159:8443"], [m6, "127.0.0.154:8443"]] as const
    ) {
      assert.equal((await m.shoal(["config", "get", "cluster.https_address"])).stdout.trim(), a);
      assert.equal((await m.shoal(["config", "set", "core.https_address", a])).code, 0);
    }
    assert.equal((await m6.shoal(["config", "get", "user.marker"])).stdout.trim(), "v1");
    assert.equal((await m5.shoal(["config", "set", "user.moved", "1"])).code, 0);
    assert.equal((await m1!.shoal(["config", "get", "user.moved"])).stdout.trim(), "1");
    await healthy(m6);
  } finally {
    for (const m of members) await m.stop();
  }
});
