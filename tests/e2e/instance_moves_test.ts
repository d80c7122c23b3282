/**
 * Moving, copying and renaming instances between members: three real members on
 * 127.0.0.146-148 with a dir pool, driven by the real lxc client. A stopped container moves with
 * its root filesystem and leaves nothing behind; a copy resets the volatile keys as LXD does and
 * runs on its member; renames and running moves are refused with LXD's messages (--stateless
 * stops, moves and starts); and a move whose source or target is killed with -9 in the middle of
 * streaming a 200 MB root filesystem leaves exactly one usable instance once the killed member is
 * back.
 */
import assert from "node:assert/strict";
import { clusterList, formCluster } from "../helpers/cluster.ts";
import { type Member, run, tempDir, waitFor } from "../helpers/member.ts";
import { busyboxImage, PRESEED, stopContainers } from "../compat/instances_helpers.ts";

const ADDRESSES = ["127.0.0.146", "127.0.0.147", "127.0.0.148"];

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

async function sha256(path: string): Promise<string> {
  const r = await run("sha256sum", [path]);
  return r.stdout.split(" ")[0] ?? "";
}

Deno.test("instances move, copy and rename between members", async (t) => {
  await using tmp = await tempDir("instance-moves");
  let members: Member[] = [];
  try {
    members = await formCluster(tmp.path, ADDRESSES, { preseed: PRESEED });
    const [m1, m2, m3] = members as [Member, Member, Member];
    // The real lxc client through m1's socket.
    const lxc = (args: string[], timeoutS = 120, via: Member = m1) =>
      run("timeout", ["-k", "5", String(timeoutS), "lxc", ...args], { env: { LXD_DIR: via.dir } });
    const ok = async (args: string[]) => {
      const r = await lxc(args);
      const logs = (await Promise.all(members.map((m) => m.logTail(15)))).join("\n");
      assert.equal(r.code, 0, `lxc ${args.join(" ")}: ${r.stderr}\n${logs}`);
      return r.stdout;
    };
    const row = async (name: string) =>
      (await ok(["list", "--format", "csv", "-c", "nsL"])).split("\n").find((l) =>
        l.startsWith(`${name},`)
      ) ?? "";
    const vol = (m: Member, name: string) => `${m.dir}/storage-pools/default/containers/${name}`;
    const image = await busyboxImage(tmp.path);
    await ok(["image", "import", image, "--alias", "bb"]);
    const marker = `${tmp.path}/marker`;
    await Deno.writeTextFile(marker, `marker-${crypto.randomUUID()}\n`);

    await t.step("lxc move --target: a stopped container goes with its files, nothing stays", async () => {
      await ok(["init", "bb", "c1", "--target", "m1"]);
      await ok(["file", "push", marker, "c1/root/marker"]);
      await ok(["move", "c1", "--target", "m2"]);
      assert.equal(await row("c1"), "c1,STOPPED,m2");
      assert.equal(await exists(vol(m1, "c1")), false);
      assert.equal(await exists(vol(m2, "c1")), true);
      assert.equal(await ok(["file", "pull", "c1/root/marker", "-"]), await Deno.readTextFile(marker));
      // It runs there, its files shifted as on m1.
      await ok(["start", "c1"]);
      assert.equal(await row("c1"), "c1,RUNNING,m2");
      assert.equal(await ok(["exec", "c1", "--", "cat", "/root/marker"]), await Deno.readTextFile(marker));
      await ok(["stop", "c1", "--force"]);
    });

    await t.step(
      "lxc copy --target: the copy runs on its member, its volatile keys reset as LXD's",
      async () => {
        const src = JSON.parse(await ok(["query", "/1.0/instances/c1"])).config as Record<string, string>;
        assert.ok(src["volatile.last_state.power"], "c1 ran, so it has a power state");
        await ok(["copy", "c1", "c2", "--target", "m3"]);
        assert.equal(await row("c2"), "c2,STOPPED,m3");
        assert.equal(await row("c1"), "c1,STOPPED,m2");
        const cfg = JSON.parse(await ok(["query", "/1.0/instances/c2"])).config as Record<string, string>;
        assert.equal(cfg["volatile.last_state.power"], undefined);
        assert.equal(cfg["volatile.idmap.current"], undefined);
        assert.equal(cfg["volatile.base_image"], src["volatile.base_image"]);
        assert.equal(cfg["volatile.last_state.idmap"], src["volatile.last_state.idmap"]);
        await ok(["start", "c2"]);
        assert.equal(await ok(["exec", "c2", "--", "cat", "/root/marker"]), await Deno.readTextFile(marker));
        await ok(["stop", "c2", "--force"]);
        // Without --target the scheduler places it; on the source's member it is a local copy.
        await ok(["copy", "c1", "c3"]);
        assert.match(await row("c3"), /^c3,STOPPED,m[123]$/);
        await ok(["delete", "c3"]);
      },
    );

    await t.step("snapshots go with a move, a copy (not --instance-only) and a rename", async () => {
      const snaps = async (name: string) =>
        (JSON.parse(await ok(["query", `/1.0/instances/${name}/snapshots`])) as string[]).map((u) =>
          u.split("/").pop()
        );
      const snapDir = (m: Member, name: string) =>
        `${m.dir}/storage-pools/default/containers-snapshots/${name}/snap0`;
      const later = `${tmp.path}/later`;
      await Deno.writeTextFile(later, "changed after the snapshot\n");
      await ok(["init", "bb", "sn", "--target", "m1"]);
      await ok(["file", "push", marker, "sn/root/marker"]);
      await ok(["snapshot", "sn", "snap0"]);
      await ok(["file", "push", later, "sn/root/marker"]);
      await ok(["move", "sn", "--target", "m2"]);
      assert.deepEqual(await snaps("sn"), ["snap0"]);
      assert.equal(await exists(snapDir(m2, "sn")), true);
      assert.equal(await exists(`${m1.dir}/storage-pools/default/containers-snapshots/sn`), false);
      await ok(["copy", "sn", "sn2", "--target", "m3"]);
      assert.deepEqual(await snaps("sn2"), ["snap0"]);
      assert.equal(await exists(snapDir(m3, "sn2")), true);
      await ok(["copy", "sn", "sn3", "--target", "m1", "--instance-only"]);
      assert.deepEqual(await snaps("sn3"), []);
      await ok(["move", "sn", "sn4"]);
      assert.equal(await exists(snapDir(m2, "sn4")), true);
      for (const n of ["sn4", "sn2"]) {
        assert.equal(await ok(["file", "pull", `${n}/root/marker`, "-"]), "changed after the snapshot\n");
        await ok(["restore", n, "snap0"]);
        assert.equal(await ok(["file", "pull", `${n}/root/marker`, "-"]), await Deno.readTextFile(marker));
      }
      for (const n of ["sn2", "sn3", "sn4"]) await ok(["delete", n]);
    });

    await t.step("on a pool every member sees, a move takes nothing across and deletes nothing", async () => {
      const shared = `${tmp.path}/shared`;
      for (const m of ["m1", "m2", "m3"]) {
        await ok(["storage", "create", "shared", "dir", `source=${shared}`, "--target", m]);
      }
      await ok(["storage", "create", "shared", "dir"]);
      await ok(["init", "bb", "sh1", "--target", "m1", "--storage", "shared"]);
      await ok(["file", "push", marker, "sh1/root/marker"]);
      await ok(["snapshot", "sh1", "snap0"]);
      await ok(["move", "sh1", "--target", "m2"]);
      assert.equal(await row("sh1"), "sh1,STOPPED,m2");
      await ok(["move", "sh1", "sh2", "--target", "m3"]);
      assert.equal(await row("sh2"), "sh2,STOPPED,m3");
      const left = [];
      for await (const e of Deno.readDir(`${shared}/containers`)) left.push(e.name);
      assert.deepEqual(left, ["sh2"], "one volume, no staging, no mark");
      assert.equal(await exists(`${shared}/containers-snapshots/sh2/snap0`), true);
      await ok(["start", "sh2"]);
      assert.equal(await ok(["exec", "sh2", "--", "cat", "/root/marker"]), await Deno.readTextFile(marker));
      await ok(["delete", "sh2", "--force"]);
    });

    await t.step("renames: on the member, refused while running or when the name is taken", async () => {
      await ok(["move", "c2", "c4"]);
      assert.equal(await row("c4"), "c4,STOPPED,m3");
      assert.equal(await row("c2"), "");
      assert.equal(await exists(vol(m3, "c4")), true);
      assert.equal(await exists(vol(m3, "c2")), false);
      let r = await lxc(["move", "c4", "c1"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Name "c1" already in use/);
      r = await lxc(["query", "-X", "POST", "-d", '{"name":"-bad"}', "/1.0/instances/c4"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Invalid instance name/);
      await ok(["start", "c4"]);
      r = await lxc(["move", "c4", "c5"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Renaming of running instance not allowed/);
      assert.equal(await row("c4"), "c4,RUNNING,m3");
    });

    await t.step("a running container: refused as LXD without CRIU, moved with --stateless", async () => {
      let r = await lxc(["move", "c4", "--target", "m1"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /CRIU isn't installed/);
      assert.equal(await row("c4"), "c4,RUNNING,m3");
      r = await lxc(["move", "c4", "--target", "nowhere"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /not found/);
      await ok(["move", "c4", "--target", "m1", "--stateless"]);
      assert.equal(await row("c4"), "c4,RUNNING,m1");
      assert.equal(await ok(["exec", "c4", "--", "cat", "/root/marker"]), await Deno.readTextFile(marker));
      await ok(["stop", "c4", "--force"]);
    });

    await t.step("an instance using a member's custom volume does not leave it behind", async () => {
      await ok(["storage", "volume", "create", "default", "v1", "--target", "m1"]);
      await ok(["init", "bb", "cv", "--target", "m1"]);
      await ok(["storage", "volume", "attach", "default", "v1", "cv", "/mnt"]);
      const r = await lxc(["move", "cv", "--target", "m2"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /cannot move to "m2".*Storage volume "v1" not found in pool "default" on "m2"/);
      assert.equal(await row("cv"), "cv,STOPPED,m1");
      await ok(["delete", "cv"]);
    });

    await t.step("a move to @GROUP: the scheduler picks, scheduler.instance applies", async () => {
      await ok(["cluster", "group", "create", "g1"]);
      await ok(["cluster", "group", "assign", "m3", "default,g1"]);
      await ok(["cluster", "set", "m3", "scheduler.instance", "manual"]);
      // m3, the group's only member, takes instances by name only.
      const r = await lxc(["move", "c1", "--target", "@g1"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /No suitable cluster member could be found/);
      assert.equal(await row("c1"), "c1,STOPPED,m2");
      await ok(["cluster", "set", "m3", "scheduler.instance", "group"]);
      await ok(["move", "c1", "--target", "@g1"]);
      assert.equal(await row("c1"), "c1,STOPPED,m3");
      await ok(["move", "c1", "--target", "m2"]);
      await ok(["cluster", "set", "m3", "scheduler.instance", "all"]);
    });

    await t.step("shoal's own copy, rename and move, with lxc's refusals", async () => {
      const sh = async (args: string[]) => {
        const r = await m2.shoal(args);
        assert.equal(r.code, 0, `shoal ${args.join(" ")}: ${r.stderr}`);
        assert.equal(r.stdout, "", "lxc prints nothing on success");
      };
      await sh(["copy", "c1", "s1", "--target", "m3"]);
      assert.equal(await row("s1"), "s1,STOPPED,m3");
      await sh(["rename", "s1", "s2"]);
      assert.equal(await row("s2"), "s2,STOPPED,m3");
      await sh(["move", "s2", "s3", "--target", "m1"]);
      assert.equal(await row("s3"), "s3,STOPPED,m1");
      assert.equal(await exists(vol(m3, "s2")), false);
      const r = await m2.shoal(["move", "s3", "--target", "m2", "--instance-only"]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim(), "Error: The --instance-only flag can't be used with --target");
      await sh(["delete", "s3"]);
    });

    // A 200 MB file of noise in the root filesystem: the stream takes seconds.
    await ok(["init", "bb", "big", "--target", "m2"]);
    await run("sh", ["-c", `head -c 200M /dev/urandom > '${vol(m2, "big")}/rootfs/big'`]);
    const sum = await sha256(`${vol(m2, "big")}/rootfs/big`);
    /** Restarts a killed member and waits until every member sees it online. */
    const restart = async (m: Member) => {
      await m.start();
      for (const via of members) {
        await waitFor(
          `${m.name} online for ${via.name}`,
          async () =>
            (await clusterList(via).catch(() => [])).find((r) => r.name === m.name)?.state === "ONLINE",
          60_000,
        );
      }
    };
    /**
     * Starts a move with the real lxc through `via`'s socket, waits until the target's staging
     * volume holds a few MB, then kills `victim`: the client must hear that the move failed.
     */
    const killMidStream = async (via: Member, to: Member, victim: Member) => {
      const staged = `${vol(to, ".incoming.big")}/rootfs/big`;
      const move = lxc(["move", "big", "--target", to.name], 120, via);
      await waitFor(
        "the stream under way",
        async () => {
          const st = await Deno.stat(staged).catch(() => null);
          return (st?.size ?? 0) > 8_000_000;
        },
        60_000,
        5,
      );
      await victim.kill();
      const r = await move;
      assert.notEqual(r.code, 0, "the move must not report success");
    };

    await t.step("kill -9 of the target mid-stream: the instance stays whole on its source", async () => {
      await killMidStream(m2, m3, m3);
      assert.equal(await row("big"), "big,STOPPED,m2");
      assert.equal(await sha256(`${vol(m2, "big")}/rootfs/big`), sum);
      assert.equal(await exists(`${vol(m2, ".outgoing.big")}.json`), false);
      await restart(m3);
      // The restarted target drops the staging volume of a move that never committed.
      await waitFor(
        "m3's staging volume gone",
        async () => !(await exists(vol(m3, ".incoming.big"))),
        30_000,
      );
      assert.equal(await exists(vol(m3, "big")), false);
      // And the instance moves once the target is back.
      await ok(["move", "big", "--target", "m3"]);
      assert.equal(await row("big"), "big,STOPPED,m3");
      assert.equal(await sha256(`${vol(m3, "big")}/rootfs/big`), sum);
      assert.equal(await exists(vol(m2, "big")), false);
    });

    await t.step(
      "kill -9 of the source mid-stream: the instance is whole on its source once back",
      async () => {
        // Through m1 (the target): the client hears of the source's death there.
        await killMidStream(m1, m1, m3);
        // The target dropped its half: the stream broke, nothing committed.
        await waitFor(
          "m1's staging volume gone",
          async () => !(await exists(vol(m1, ".incoming.big"))),
          30_000,
        );
        assert.equal(await exists(vol(m1, "big")), false);
        await restart(m3);
        assert.equal(await row("big"), "big,STOPPED,m3");
        await waitFor(
          "m3's mark settled",
          async () => !(await exists(`${vol(m3, ".outgoing.big")}.json`)),
          30_000,
        );
        assert.equal(await sha256(`${vol(m3, "big")}/rootfs/big`), sum);
        await ok(["start", "big"]);
        assert.equal(await row("big"), "big,RUNNING,m3");
        await ok(["stop", "big", "--force"]);
      },
    );

    await t.step("a restart settles a kill on either side of the commit", async () => {
      // m2 killed after the commit, before it dropped its copy: its mark and volume remain.
      await m2.kill();
      await Deno.mkdir(`${vol(m2, "big")}/rootfs`, { recursive: true });
      await Deno.writeTextFile(
        `${vol(m2, ".outgoing.big")}.json`,
        JSON.stringify({ project: "default", name: "big", to: "m3", from: "m2", id: crypto.randomUUID() }),
      );
      // A staging volume of a move that never committed.
      await Deno.mkdir(vol(m2, ".incoming.ghost"), { recursive: true });
      await restart(m2);
      await waitFor(
        "m2's leftovers settled",
        async () =>
          !(await exists(vol(m2, "big"))) && !(await exists(`${vol(m2, ".outgoing.big")}.json`)) &&
          !(await exists(vol(m2, ".incoming.ghost"))),
        30_000,
      );
      // m3 killed after the commit, before it named the volume: the restart names it.
      await m3.kill();
      await Deno.rename(vol(m3, "big"), vol(m3, ".incoming.big"));
      await restart(m3);
      await waitFor("m3's volume named", async () => await exists(vol(m3, "big")), 30_000);
      assert.equal(await exists(vol(m3, ".incoming.big")), false);
      assert.equal(await sha256(`${vol(m3, "big")}/rootfs/big`), sum);
      await ok(["start", "big"]);
      assert.equal(await row("big"), "big,RUNNING,m3");
      await ok(["stop", "big", "--force"]);
    });
  } finally {
    for (const m of members) await stopContainers(m.dir);
    for (const m of members) await m.stop();
  }
});
