/**
 * Healing made safe by fencing: three real members, each in a network namespace of its own on
 * 127.0.0.235-237 (joined by a bridge in a fourth), sharing one directory as their dir pool's
 * source (storage every member sees), plus a pool of their own. One member is cut off: within
 * its fence time it stops its containers; after the healing threshold the leader starts the one
 * on shared storage elsewhere, reports the other, marks the member evacuated and says
 * cluster-member-healed; back, the member starts nothing. Throughout, lxc-info inside every
 * namespace checks that no two copies of the container ever run at once.
 */
import assert from "node:assert/strict";
import { clusterList, joinMember, leaderOf } from "../helpers/cluster.ts";
import { Member, tempDir, waitFor } from "../helpers/member.ts";
import { inNetns, ip, NetnsSet, nsCmd, uniquePrefix } from "../helpers/netns.ts";
import { busyboxImage, stopContainers } from "../compat/instances_helpers.ts";
import type { Event } from "../../lib/wire/mod.ts";

const A = ["127.0.0.235", "127.0.0.236", "127.0.0.237"];
const FENCE_S = 5;
const HEAL_S = 15;

/**
 * Three members, each in a namespace of its own on `addrs` (a bridge in a fourth joins them),
 * whose dir pool "default" has one source, a directory all of them see.
 */
async function sharedCluster(
  dir: string,
  set: NetnsSet,
  addrs: string[],
): Promise<{ hub: string; members: Member[] }> {
  const hub = await set.star(addrs);
  const wrap = (name: string) => inNetns(set.name(name), "env");
  const shared = `${dir}/shared`;
  await Deno.mkdir(shared, { mode: 0o755 });
  await Deno.chmod(dir, 0o755);
  const m1 = new Member(`${dir}/m1`, "m1", undefined, wrap("m1"));
  await m1.start();
  const members = [m1];
  const boot = await m1.shoald(["init", "--preseed"], {
    stdin:
      `config:\n  core.https_address: "${addrs[0]}:8443"\ncluster:\n  server_name: m1\n  enabled: true\n` +
      `storage_pools:\n- name: default\n  driver: dir\n  config:\n    source: ${shared}\n` +
      `profiles:\n- name: default\n  devices:\n    root:\n      path: /\n      pool: default\n      type: disk\n`,
  });
  assert.equal(boot.code, 0, boot.stderr);
  for (const i of [2, 3]) {
    members.push(
      await joinMember(
        dir,
        m1,
        `m${i}`,
        addrs[i - 1]!,
        undefined,
        wrap(`m${i}`),
        `  member_config:\n  - entity: storage-pool\n    name: default\n    key: source\n    value: ${shared}\n`,
      ),
    );
  }
  return { hub, members };
}

/** Stops every container inside its member's namespace (liblxc reaches it from there only). */
async function stopAll(set: NetnsSet, members: Member[]): Promise<void> {
  await set.stopContainers(members);
  for (const m of members) await stopContainers(m.dir);
}

/** Where container c runs now, by member name, as liblxc inside each namespace tells it. */
async function runningOn(set: NetnsSet, members: Member[], c: string): Promise<string[]> {
  const where: string[] = [];
  for (const m of members) {
    const r = await nsCmd(set.name(m.name), "lxc-info", ["-P", `${m.dir}/containers`, "-n", c, "-s"], {
      check: false,
    });
    if (/RUNNING/.test(r.stdout)) where.push(m.name);
  }
  return where;
}

Deno.test("a member cut off fences itself; its instance on shared storage heals elsewhere, never twice", async (t) => {
  await using tmp = await tempDir("heal");
  await using set = new NetnsSet(uniquePrefix("hl"));
  const { hub, members } = await sharedCluster(tmp.path, set, A);
  const running = new Map<string, string[]>();
  let watching = true;
  let overlap = "";
  let watcher: Promise<void> = Promise.resolve();
  try {
    const m1 = members[0]!;
    /** `shoal ARGS` through m, which must succeed (Member.must says why it did not). */
    const ok = async (m: Member, args: string[]) => (await m.must(args)).stdout;
    const leader = await leaderOf(members, m1);
    const victim = members.find((m) => m !== leader)!;
    const V = victim.name;
    const vi = members.indexOf(victim) + 1;

    await t.step("healing settings leave the fence time and a margin, or are refused", async () => {
      await ok(m1, ["config", "set", `cluster.fence_time=${FENCE_S}`]);
      const bad = await m1.shoal(["config", "set", `cluster.healing_threshold=${FENCE_S + 9}`]);
      assert.notEqual(bad.code, 0);
      assert.match(
        bad.stderr,
        new RegExp(`must exceed cluster.fence_time \\(${FENCE_S}\\) by at least 10 seconds`),
      );
      await ok(m1, ["config", "set", `cluster.healing_threshold=${HEAL_S}`]);
    });

    // a pool of each member's own for c2: it cannot start elsewhere
    for (const m of members) await ok(m1, ["storage", "create", "own", "dir", "--target", m.name]);
    await ok(m1, ["storage", "create", "own", "dir"]);
    await ok(m1, ["image", "import", await busyboxImage(tmp.path), "--alias", "bb"]);
    await ok(m1, ["launch", "bb", "c1", "--target", V]);
    await ok(m1, ["launch", "bb", "c2", "--target", V, "-s", "own"]);

    // every 200 ms: where c1 runs, as liblxc inside each namespace tells it
    watcher = (async () => {
      while (watching) {
        const where = await runningOn(set, members, "c1");
        running.set("c1", where);
        if (where.length > 1 && overlap === "") overlap = `c1 ran on ${where.join(" and ")} at once`;
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    await waitFor("c1 seen running on the victim", () => running.get("c1")?.join() === V, 20_000);

    const events: Event[] = [];
    const stream = await leader.client().events(["lifecycle"], (e) => events.push(e));
    await stream.ready;
    const t0 = performance.now();
    await ip("-n", hub, "link", "set", `p${vi}`, "down");

    await t.step("cut off, the member stops its containers within its fence time", async () => {
      await waitFor("c1 stopped on the victim", () => running.get("c1")?.length === 0, 30_000, 100);
      const fencedAfter = (performance.now() - t0) / 1000;
      assert.ok(
        fencedAfter < HEAL_S,
        `fenced after ${fencedAfter.toFixed(1)} s, not before the healing threshold`,
      );
      const c2 = await nsCmd(set.name(V), "lxc-info", ["-P", `${victim.dir}/containers`, "-n", "c2", "-s"], {
        check: false,
      });
      assert.doesNotMatch(c2.stdout, /RUNNING/);
      // its watchdog may have been first (both fence after the fence time): the daemon says so too
      await waitFor(
        "the victim's log telling it fenced",
        async () => /No quorum of database voters within the fence time/.test(await victim.logTail(200)),
        15_000,
        200,
      );
    });

    await t.step(
      "after the healing threshold c1 runs elsewhere; c2 is reported, the member evacuated",
      async () => {
        const other = members.find((m) => m !== victim)!;
        // liblxc's view first (a list through a member waits for the lost one's share to time out)
        const where = await waitFor(
          "c1 running on another member",
          () => {
            const w = running.get("c1") ?? [];
            return w.length === 1 && w[0] !== V ? w[0] : undefined;
          },
          60_000,
          50,
        );
        const healedAfter = (performance.now() - t0) / 1000;
        // The threshold counts from the last heartbeat answered: up to one interval (1 s) before the cut.
        assert.ok(
          healedAfter >= HEAL_S - 1.5,
          `healed after ${healedAfter.toFixed(1)} s, before the threshold`,
        );
        console.log(`heal: fenced, then c1 running on ${where} ${healedAfter.toFixed(1)} s after the cut`);
        const row = (await ok(other, ["list", "--format", "csv", "-c", "nsL"])).split("\n").find((l) =>
          l.startsWith("c1,")
        );
        assert.equal(row, `c1,RUNNING,${where}`);
        const healed = await waitFor(
          "a cluster-member-healed event",
          () => events.find((e) => (e.metadata as { action?: string }).action === "cluster-member-healed"),
          10_000,
        );
        const meta = healed.metadata as { source: string; context: { healed: object; not_healed: object } };
        assert.equal(meta.source, `/1.0/cluster/members/${V}`);
        assert.deepEqual(Object.keys(meta.context.healed), ["c1"]);
        assert.deepEqual(Object.keys(meta.context.not_healed), ["c2"]);
        assert.equal((await clusterList(other)).find((r) => r.name === V)!.state, "EVACUATED");
      },
    );

    await t.step("back, the member starts nothing: c1 never runs twice", async () => {
      await ip("-n", hub, "link", "set", `p${vi}`, "up");
      await waitFor(
        "the victim hears the cluster again",
        async () => {
          return /fencing lifted/.test(await victim.logTail(200));
        },
        60_000,
        500,
      );
      await new Promise((r) => setTimeout(r, 5_000));
      assert.equal(running.get("c1")?.length, 1);
      assert.notEqual(running.get("c1")![0], V);
      const c2 = await nsCmd(set.name(V), "lxc-info", ["-P", `${victim.dir}/containers`, "-n", "c2", "-s"], {
        check: false,
      });
      assert.doesNotMatch(c2.stdout, /RUNNING/);
    });
    await t.step("lxc cluster restore: c1 comes back to the member, stopped there first", async () => {
      const r = await m1.lxc(["cluster", "restore", V, "--force"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await clusterList(m1)).find((x) => x.name === V)!.state, "ONLINE");
      await waitFor("c1 running on the victim again", () => running.get("c1")?.join() === V, 30_000, 100);
      const row = (await ok(m1, ["list", "--format", "csv", "-c", "nsL"])).split("\n").find((l) =>
        l.startsWith("c1,")
      );
      assert.equal(row, `c1,RUNNING,${V}`);
    });
    stream.close();
    assert.equal(overlap, "");
  } finally {
    watching = false;
    await watcher.catch(() => {});
    await stopAll(set, members);
    for (const m of [...members].reverse()) await m.stop().catch(() => {});
  }
});

Deno.test("a member whose daemon dies: its fence watchdog kills the containers, then they heal elsewhere", async () => {
  await using tmp = await tempDir("heal-kill");
  await using set = new NetnsSet(uniquePrefix("hk"));
  const { members } = await sharedCluster(tmp.path, set, ["127.0.0.233", "127.0.0.234", "127.0.0.244"]);
  let watching = true;
  let overlap = "";
  let seen: string[] = [];
  let watcher: Promise<void> = Promise.resolve();
  try {
    const m1 = members[0]!;
    const ok = async (args: string[]) => {
      const r = await m1.shoal(args);
      assert.equal(r.code, 0, `shoal ${args.join(" ")}: ${r.stderr}`);
    };
    await ok(["config", "set", `cluster.fence_time=${FENCE_S}`, `cluster.healing_threshold=${HEAL_S}`]);
    await ok(["image", "import", await busyboxImage(tmp.path), "--alias", "bb"]);
    const leader = await leaderOf(members, m1);
    const victim = members.find((m) => m !== leader)!;
    await ok(["launch", "bb", "c1", "--target", victim.name]);
    watcher = (async () => {
      while (watching) {
        seen = await runningOn(set, members, "c1");
        if (seen.length > 1 && overlap === "") overlap = `c1 ran on ${seen.join(" and ")} at once`;
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    await waitFor("c1 running on the victim", () => seen.join() === victim.name, 20_000);
    // the daemon alone: its containers live on without it
    await victim.kill();
    const t0 = performance.now();
    await waitFor("c1 killed by the victim's watchdog", () => seen.length === 0, 30_000, 100);
    const fenced = (performance.now() - t0) / 1000;
    assert.ok(fenced < HEAL_S - 1.5, `the watchdog fenced after ${fenced.toFixed(1)} s`);
    const where = await waitFor("c1 running elsewhere", () => seen.length === 1 && seen[0], 60_000, 100);
    assert.notEqual(where, victim.name);
    await new Promise((r) => setTimeout(r, 2_000));
    assert.equal(overlap, "");
  } finally {
    watching = false;
    await watcher.catch(() => {});
    await stopAll(set, members);
    for (const m of [...members].reverse()) await m.stop().catch(() => {});
  }
});
