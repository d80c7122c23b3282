/**
 * Evacuation and restore with the real lxc client: three real members on 127.0.0.230-232 with a
 * dir pool and real containers. The leader is evacuated: it hands over leadership and its vote,
 * shows EVACUATED, its instances stop (cluster.evacuate=stop) or move and run elsewhere, nothing
 * new is placed or started on it, a second evacuation and a restore while one runs are refused
 * with LXD's messages; restore brings back what left and starts what was stopped, and leaves
 * stopped what its user had stopped; with a voter offline, evacuating another voter is refused.
 */
import assert from "node:assert/strict";
import { clusterList, formCluster, leaderOf } from "../helpers/cluster.ts";
import { type Member, tempDir, waitFor } from "../helpers/member.ts";
import { busyboxImage, PRESEED, stopContainers } from "../compat/instances_helpers.ts";

const ADDRESSES = ["127.0.0.230", "127.0.0.231", "127.0.0.232"];

Deno.test("lxc cluster evacuate and restore", async (t) => {
  await using tmp = await tempDir("evacuate");
  let members: Member[] = [];
  try {
    members = await formCluster(tmp.path, ADDRESSES, { preseed: PRESEED });
    const ok = async (m: Member, args: string[], lxc = false) => {
      const r = lxc ? await m.lxc(args) : await m.shoal(args);
      assert.equal(r.code, 0, `${lxc ? "lxc" : "shoal"} ${args.join(" ")} through ${m.name}: ${r.stderr}`);
      return r.stdout;
    };
    const row = async (via: Member, name: string) =>
      (await ok(via, ["list", "--format", "csv", "-c", "nsL"])).split("\n").find((l) =>
        l.startsWith(`${name},`)
      );
    const state = async (via: Member, name: string) => (await clusterList(via)).find((r) => r.name === name)!;
    const leader = await leaderOf(members, members[0]!);
    const other = members.find((m) => m !== leader)!;
    const E = leader.name;
    await ok(other, ["image", "import", await busyboxImage(tmp.path), "--alias", "bb"]);
    // c1 moves (auto), c2 stops (cluster.evacuate=stop), c3 was stopped by its user (moves stopped)
    await ok(other, ["launch", "bb", "c1", "--target", E]);
    await ok(other, ["launch", "bb", "c2", "--target", E, "-c", "cluster.evacuate=stop"]);
    await ok(other, ["init", "bb", "c3", "--target", E]);
    assert.equal(await row(other, "c2"), `c2,RUNNING,${E}`);

    await t.step("bad requests are refused with LXD's messages and change nothing", async () => {
      const c = other.client();
      const post = (body: unknown) => c.request("POST", `/1.0/cluster/members/${E}/state`, { body });
      await assert.rejects(post({ action: "bogus" }), /Unknown action "bogus"/);
      await assert.rejects(post({ action: "evacuate", mode: "heal" }), /Invalid evacuation mode: "heal"/);
      await assert.rejects(post({ action: "restore" }), /Cluster member is already restored/);
      await assert.rejects(
        c.request("POST", "/1.0/cluster/members/nope/state", { body: { action: "evacuate" } }),
        /Cluster member not found/,
      );
      const bad = await other.shoal(["config", "set", "c2", "cluster.evacuate=sometimes"]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /not one of \[auto migrate live-migrate stop\]/);
      assert.equal((await state(other, E)).state, "ONLINE");
    });

    await t.step("a restore while the evacuation runs is refused; the evacuation completes", async () => {
      const c = other.client();
      const started = await c.request("POST", `/1.0/cluster/members/${E}/state`, {
        body: { action: "evacuate" },
      });
      assert.ok(started.operation, "evacuate answers with an operation");
      await assert.rejects(
        c.request("POST", `/1.0/cluster/members/${E}/state`, { body: { action: "restore" } }),
        new RegExp(`Cannot restore "${E}" while an evacuate operation is in progress`),
      );
      const op = await c.waitOperation(started.operation!, 180);
      assert.equal(op.status, "Success", `evacuation: ${op.err}\n${await leader.logTail(30)}`);
    });

    await t.step("the member shows EVACUATED and has given up leadership and its vote", async () => {
      const lxcList = JSON.parse(await ok(other, ["cluster", "list", "--format", "json"], true)) as {
        server_name: string;
        status: string;
        message: string;
      }[];
      const mine = lxcList.find((m) => m.server_name === E)!;
      assert.equal(mine.status, "Evacuated");
      assert.equal(mine.message, "Unavailable due to maintenance");
      const table = await ok(other, ["cluster", "list"], true);
      assert.match(table, new RegExp(`\\| ${E} .*\\| EVACUATED `));
      await waitFor("the evacuated member without a database role", async () => {
        const r = await state(other, E);
        return !r.roles.includes("database") && !r.roles.includes("database-leader") &&
          !r.roles.includes("database-standby");
      }, 30_000);
      assert.notEqual((await leaderOf(members, other)).name, E);
    });

    await t.step(
      "its instances: c1 moved and runs elsewhere, c2 stopped there, c3 moved stopped",
      async () => {
        const c1 = (await row(other, "c1"))!;
        assert.match(c1, /^c1,RUNNING,/);
        assert.notEqual(c1.split(",")[2], E);
        const origin = await ok(other, ["config", "get", "c1", "volatile.evacuate.origin"]);
        assert.equal(origin.trim(), E);
        assert.equal(await row(other, "c2"), `c2,STOPPED,${E}`);
        const c3 = (await row(other, "c3"))!;
        assert.match(c3, /^c3,STOPPED,/);
        assert.notEqual(c3.split(",")[2], E);
      },
    );

    await t.step("a second evacuation is refused; nothing is placed or started on it", async () => {
      const again = await other.lxc(["cluster", "evacuate", E, "--force"]);
      assert.notEqual(again.code, 0);
      assert.match(again.stderr, /Cluster member is already evacuated/);
      const start = await other.lxc(["start", "c2"]);
      assert.notEqual(start.code, 0);
      assert.match(start.stderr, /Cluster member is evacuated/);
      const target = await other.lxc(["init", "bb", "c4", "--target", E]);
      assert.notEqual(target.code, 0);
      assert.match(target.stderr, /Cluster member is evacuated/);
      for (const n of ["c5", "c6", "c7"]) await ok(other, ["init", "bb", n]);
      for (const n of ["c5", "c6", "c7"]) assert.doesNotMatch((await row(other, n))!, new RegExp(`,${E}$`));
      for (const n of ["c5", "c6", "c7"]) await ok(other, ["delete", n]);
    });

    await t.step(
      "lxc cluster restore: ONLINE again, c1 back and running, c2 running again, c3 back stopped",
      async () => {
        await ok(other, ["cluster", "restore", E, "--force"], true);
        assert.equal((await state(other, E)).state, "ONLINE");
        assert.equal(await row(other, "c1"), `c1,RUNNING,${E}`);
        assert.equal((await ok(other, ["config", "get", "c1", "volatile.evacuate.origin"])).trim(), "");
        assert.equal(await row(other, "c2"), `c2,RUNNING,${E}`);
        assert.equal(await row(other, "c3"), `c3,STOPPED,${E}`);
        const again = await other.lxc(["cluster", "restore", E, "--force"]);
        assert.notEqual(again.code, 0);
        assert.match(again.stderr, /Cluster member is already restored/);
      },
    );

    await t.step("shoal cluster evacuate --action stop, then restore: the same with our client", async () => {
      await ok(other, ["cluster", "evacuate", E, "--action", "stop", "--yes"]);
      assert.equal((await state(other, E)).state, "EVACUATED");
      assert.equal(await row(other, "c1"), `c1,STOPPED,${E}`);
      await ok(other, ["cluster", "restore", E, "--yes"]);
      assert.equal((await state(other, E)).state, "ONLINE");
      assert.equal(await row(other, "c1"), `c1,RUNNING,${E}`);
    });

    await t.step(
      "with a voter offline, evacuating another voter is refused: quorum would be lost",
      async () => {
        await ok(other, ["config", "set", "cluster.offline_threshold=11"]);
        await waitFor(
          "three voters again",
          async () => (await clusterList(other)).filter((r) => r.roles.includes("database")).length === 3,
          30_000,
        );
        const lead = await leaderOf(members, other);
        const [down, asked] = members.filter((m) => m !== lead) as [Member, Member];
        await down.kill();
        await waitFor(
          "the killed voter offline",
          async () => (await state(lead, down.name)).state === "OFFLINE",
          30_000,
        );
        const r = await lead.lxc(["cluster", "evacuate", asked.name, "--force"]);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /Insufficient online voters to maintain quorum/);
        assert.equal((await state(lead, asked.name)).state, "ONLINE");
      },
    );
  } finally {
    for (const m of members) await stopContainers(m.dir);
    for (const m of members.reverse()) await m.stop().catch(() => {});
  }
});
