/**
 * Projects across a three-member cluster on 127.0.0.187-189, driven by the real lxc 5.0 client:
 * `lxc project create|list|show|edit|get|set|unset|rename|switch|info|delete` through different
 * members, instances, profiles and images kept apart or shared by features.*, a launch through a
 * member that does not hold the instance, limits under 20 parallel creations from three members
 * (admitted vs refused, several rounds), restrictions, a restricted certificate confined to its
 * project over HTTPS, and cluster-group restrictions. Skipped, saying so, without lxc.
 */
import assert from "node:assert/strict";
import { formCluster } from "../helpers/cluster.ts";
import { type Member, run, tempDir, waitFor } from "../helpers/member.ts";
import { Client } from "../../lib/client/mod.ts";
import type { Event } from "../../lib/wire/mod.ts";
import { newCert } from "../helpers/callers.ts";
import { busyboxImage, PRESEED, stopContainers } from "./instances_helpers.ts";

const HAVE_LXC = (await run("sh", ["-c", "command -v lxc"])).code === 0;
if (!HAVE_LXC) console.log("tests/compat: lxc is not installed (apt-get install lxd-client): skipping");

const ADDR = ["127.0.0.187", "127.0.0.188", "127.0.0.189"];

Deno.test({
  name: "projects across three members with the real lxc client",
  ignore: !HAVE_LXC,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using dir = await tempDir("compat-projects");
    await Deno.chmod(dir.path, 0o755);
    const ms = await formCluster(dir.path, ADDR, { preseed: PRESEED });
    const [m1, m2, m3] = ms as [Member, Member, Member];
    const lxc = (m: Member, args: string[], stdin?: string) =>
      m.lxc(args, { conf: `${dir.path}/lxcconf-${m.name}`, stdin });
    const ok = async (m: Member, args: string[], stdin?: string) => {
      const r = await lxc(m, args, stdin);
      assert.equal(r.code, 0, `lxc ${args.join(" ")} through ${m.name}: ${r.stderr}`);
      return r.stdout;
    };
    const refused = async (m: Member, args: string[], text: RegExp) => {
      const r = await lxc(m, args);
      assert.notEqual(r.code, 0, `lxc ${args.join(" ")} was accepted: ${r.stdout}`);
      assert.match(r.stderr, text, `lxc ${args.join(" ")}`);
      return r.stderr;
    };
    try {
      const image = await busyboxImage(dir.path);
      await ok(m1, ["image", "import", image, "--alias", "bb"]);

      await t.step(
        "create, list, show, set, get, unset, edit, rename, switch through different members",
        async () => {
          await ok(m1, [
            "project",
            "create",
            "p1",
            "-c",
            "features.images=false",
            "-c",
            "features.profiles=false",
          ]);
          const csv = await ok(m3, ["project", "list", "--format", "csv"]);
          assert.match(csv, /^default \(current\),YES,YES,YES,YES,Default LXD project,\d+$/m);
          assert.match(csv, /^p1,NO,NO,YES,NO,,0$/m);
          assert.match(await ok(m2, ["project", "show", "p1"]), /features\.storage\.volumes: "true"/);
          await ok(m2, ["project", "set", "p1", "limits.instances=3"]);
          assert.equal((await ok(m3, ["project", "get", "p1", "limits.instances"])).trim(), "3");
          await ok(m1, ["project", "unset", "p1", "limits.instances"]);
          assert.equal((await ok(m2, ["project", "get", "p1", "limits.instances"])).trim(), "");
          const yaml = (await ok(m1, ["project", "show", "p1"])).replace(
            /description: ""/,
            "description: team one",
          );
          await ok(m3, ["project", "edit", "p1"], yaml);
          assert.match(await ok(m2, ["project", "show", "p1"]), /description: team one/);
          await ok(m2, ["project", "rename", "p1", "p9"]);
          await ok(m3, ["project", "rename", "p9", "p1"]);
          await ok(m1, ["project", "switch", "p1"]);
          assert.match(await ok(m1, ["project", "list", "--format", "csv"]), /^p1 \(current\),/m);
          await ok(m1, ["project", "switch", "default"]);
        },
      );

      await t.step("bad input gets LXD's messages and changes nothing", async () => {
        await refused(m1, ["project", "create", "a_b"], /Project names may not contain underscores/);
        await refused(m2, ["project", "create", "p1"], /A project named "p1" already exists/);
        await refused(m3, ["project", "set", "p1", "foo=bar"], /Invalid project configuration key "foo"/);
        await refused(m1, ["project", "set", "p1", "limits.memory=lots"], /limits\.memory" value/);
        await refused(m1, ["project", "delete", "default"], /The 'default' project cannot be deleted/);
        await refused(m2, ["project", "rename", "default", "x"], /The 'default' project cannot be renamed/);
        await refused(
          m3,
          ["project", "set", "default", "features.images=false"],
          /features of the default project/,
        );
        await refused(m1, ["project", "show", "nope"], /Project not found/);
        await refused(m1, ["list", "--project", "nope"], /Project not found/);
        await refused(m2, ["init", "--empty", "x", "--project", "nope"], /Project not found/);
        await refused(m3, ["profile", "list", "--project", "nope"], /Project not found/);
        assert.equal((await ok(m2, ["project", "list", "--format", "csv"])).trim().split("\n").length, 2);
      });

      await t.step(
        "an instance in p1 launched through m1 onto m2, listed from m3, kept apart from default",
        async () => {
          // Events carry their project: m3's listener of p1 hears the launch on m2, one of
          // default does not.
          const heard: { p1: Event[]; def: Event[] } = { p1: [], def: [] };
          const inP1 = new Client({ kind: "unix", path: m3.socket }, { project: "p1" });
          const inDefault = m3.client();
          const s1 = await inP1.events(["lifecycle"], (e) => heard.p1.push(e));
          const s2 = await inDefault.events(["lifecycle"], (e) => heard.def.push(e));
          await Promise.all([s1.ready, s2.ready]);
          await ok(m1, ["launch", "bb", "c1", "--project", "p1", "--target", "m2"]);
          await waitFor(
            "m3 hears c1 start in p1",
            () =>
              heard.p1.some((e) =>
                (e.metadata as { action: string }).action === "instance-started" && e.location === "m2" &&
                e.project === "p1" &&
                (e.metadata as { source: string }).source === "/1.0/instances/c1?project=p1"
              ),
            10_000,
          );
          assert.deepEqual(heard.def.filter((e) => e.project !== "default"), []);
          s1.close();
          s2.close();
          inP1.close();
          inDefault.close();
          assert.equal(
            (await ok(m3, ["list", "--project", "p1", "--format", "csv", "-c", "nsL"])).trim(),
            "c1,RUNNING,m2",
          );
          assert.equal((await ok(m3, ["list", "--format", "csv", "-c", "n"])).trim(), "");
          assert.equal((await ok(m3, ["exec", "c1", "--project", "p1", "--", "hostname"])).trim(), "c1");
          // LXD's instance metrics label each container with its project.
          const metrics = await run("curl", ["-s", "--unix-socket", m2.socket, "http://m2/1.0/metrics"]);
          assert.match(metrics.stdout, /lxd_procs_total\{name="c1",project="p1",type="container"\} \d+/);
          // Names are unique per project: default may hold its own c1.
          await ok(m2, ["init", "--empty", "c1", "--target", "m2"]);
          assert.equal((await ok(m1, ["list", "--format", "csv", "-c", "n"])).trim(), "c1");
          assert.equal(
            (await ok(m3, ["list", "--all-projects", "--format", "csv", "-c", "enL"])).trim(),
            "default,c1,m2\np1,c1,m2",
          );
          assert.match(await ok(m1, ["project", "show", "p1"]), /- \/1\.0\/instances\/c1\?project=p1/);
          // p1 uses default's profiles: the profile lists the instances of both projects.
          assert.match(await ok(m3, ["profile", "show", "default", "--project", "p1"]), /c1\?project=p1/);
          await ok(m1, ["delete", "c1"]);
        },
      );

      await t.step("limits and deletion rules hold, with LXD's messages", async () => {
        await ok(m2, ["project", "set", "p1", "limits.instances=1"]);
        const e = await refused(m3, ["launch", "bb", "c2", "--project", "p1"], /limits\.instances/);
        assert.match(e, /Reached maximum number of instances in project "p1"/);
        assert.equal((await ok(m1, ["list", "--project", "p1", "--format", "csv", "-c", "n"])).trim(), "c1");
        await refused(m1, ["project", "set", "p1", "limits.instances=0"], /"limits.instances" is too low/);
        await refused(m2, ["project", "delete", "p1"], /Only empty projects can be removed/);
        await refused(m3, ["project", "rename", "p1", "p2"], /Only empty projects can be renamed/);
        await refused(
          m1,
          ["project", "set", "p1", "features.images=true"],
          /cannot be enabled on non-empty projects/,
        );
        assert.match(await ok(m1, ["project", "info", "p1"]), /\| INSTANCES +\| 1 +\| 1 +\|/);
        await ok(m3, ["stop", "c1", "--project", "p1", "--force"]);
        await ok(m3, ["delete", "c1", "--project", "p1"]);
        await ok(m1, ["project", "delete", "p1"]);
        assert.doesNotMatch(await ok(m2, ["project", "list", "--format", "csv"]), /^p1/m);
      });

      await t.step("a project with its own profiles, images and networks keeps them apart", async () => {
        await ok(m1, ["project", "create", "own", "-c", "features.networks=true"]);
        // Its own networks: a bridge cannot be one (LXD 5.0 keeps those in default).
        assert.equal((await ok(m2, ["network", "list", "--project", "own", "--format", "csv"])).trim(), "");
        await refused(
          m3,
          ["network", "create", "n1", "--project", "own"],
          /does not support non-default projects/,
        );
        const profiles = await ok(m2, ["profile", "list", "--project", "own", "--format", "csv"]);
        assert.match(profiles, /^default,Default LXD profile for project own,0$/m);
        assert.equal((await ok(m3, ["image", "list", "--project", "own", "--format", "csv"])).trim(), "");
        await refused(m1, ["launch", "bb", "x", "--project", "own"], /not found/i);
        await ok(m2, ["profile", "create", "extra", "--project", "own"]);
        await refused(m3, ["profile", "show", "extra"], /Profile not found/);
        await ok(m1, ["profile", "delete", "extra", "--project", "own"]);
        // The same image in two projects: two records, one file, which goes with the last.
        await ok(m1, ["image", "import", image, "--alias", "mine", "--project", "own"]);
        const fp = (await ok(m2, ["image", "list", "--project", "own", "--format", "csv", "-c", "lf"]))
          .trim();
        assert.match(fp, /^mine,[0-9a-f]{12}$/);
        assert.doesNotMatch(await ok(m3, ["image", "list", "--format", "csv", "-c", "l"]), /mine/);
        await refused(m1, ["project", "delete", "own"], /Only empty projects can be removed/);
        await ok(m3, ["image", "delete", "mine", "--project", "own"]);
        const held = [...Deno.readDirSync(`${m1.dir}/images`)].filter((e) =>
          e.name.startsWith(fp.split(",")[1]!)
        );
        assert.equal(held.length, 1, "the default project's image file went with own's record");
        await ok(m1, ["project", "delete", "own"]);
      });

      await t.step("restricted projects refuse what their restrictions forbid", async () => {
        await ok(m1, ["project", "create", "r", "-c", "features.profiles=false", "-c", "restricted=true"]);
        await refused(
          m2,
          ["init", "--empty", "n1", "--project", "r", "-c", "security.nesting=true"],
          /Container nesting is forbidden/,
        );
        await refused(
          m3,
          ["init", "--empty", "n1", "--project", "r", "-c", "security.privileged=true"],
          /Privileged containers are forbidden/,
        );
        await ok(m1, ["project", "set", "r", "restricted.containers.privilege=allow"]);
        await ok(m3, ["init", "--empty", "n1", "--project", "r", "-c", "security.privileged=true"]);
        await refused(
          m1,
          ["project", "set", "r", "restricted.containers.privilege=unprivileged"],
          /Privileged/,
        );
        await ok(m2, ["delete", "n1", "--project", "r"]);
      });

      await t.step("cluster groups bound where a restricted project's instances go", async () => {
        await ok(m2, ["cluster", "group", "create", "g3"]);
        await ok(m3, ["cluster", "group", "assign", "m3", "default,g3"]);
        await ok(m1, [
          "project",
          "create",
          "g",
          "-c",
          "features.profiles=false",
          "-c",
          "restricted=true",
          "-c",
          "restricted.cluster.groups=g3",
        ]);
        await refused(
          m1,
          ["init", "--empty", "x", "--project", "g", "--target", "m2"],
          /Project isn't allowed to use this cluster member/,
        );
        await refused(
          m2,
          ["init", "--empty", "x", "--project", "g", "--target", "@default"],
          /Project isn't allowed to use this cluster group/,
        );
        await ok(m2, ["init", "--empty", "x", "--project", "g", "--target", "m3"]);
        // Without --target, the scheduler keeps to the allowed groups too.
        await ok(m1, ["init", "--empty", "y", "--project", "g"]);
        assert.equal(
          (await ok(m2, ["list", "y", "--project", "g", "--format", "csv", "-c", "L"])).trim(),
          "m3",
        );
        await ok(m3, ["delete", "y", "--project", "g"]);
        assert.equal(
          (await ok(m1, ["list", "--project", "g", "--format", "csv", "-c", "nL"])).trim(),
          "x,m3",
        );
        await ok(m1, ["delete", "x", "--project", "g"]);
      });

      await t.step(
        "a restricted certificate sees and changes only its project, through any member",
        async () => {
          await ok(m1, [
            "project",
            "create",
            "team",
            "-c",
            "features.profiles=false",
            "-c",
            "restricted=true",
          ]);
          const conf = `${dir.path}/lxcconf-restricted`;
          await Deno.mkdir(conf, { recursive: true });
          const cert = await newCert("team-client");
          await Deno.writeTextFile(`${conf}/client.crt`, cert.cert);
          await Deno.writeTextFile(`${conf}/client.key`, cert.key, { mode: 0o600 });
          await ok(m2, [
            "config",
            "trust",
            "add",
            `${conf}/client.crt`,
            "--restricted",
            "--projects",
            "team",
          ]);
          const r = (args: string[]) => run("lxc", args, { env: { LXD_CONF: conf, HOME: conf } });
          for (const [i, a] of ADDR.entries()) {
            const add = await r(["remote", "add", `r${i + 1}`, `https://${a}:8443`, "--accept-certificate"]);
            assert.equal(add.code, 0, add.stderr);
          }
          const projects = await r(["project", "list", "r3:", "--format", "csv"]);
          assert.equal(projects.code, 0, projects.stderr);
          // lxc makes a restricted client's only project the remote's current one.
          assert.deepEqual(projects.stdout.trim().split("\n").map((l) => l.split(",")[0]), [
            "team (current)",
          ]);
          const mine = await r(["init", "--empty", "r1:t1", "--project", "team"]);
          assert.equal(mine.code, 0, mine.stderr);
          const list = await r(["list", "r2:", "--project", "team", "--format", "csv", "-c", "n"]);
          assert.equal(list.stdout.trim(), "t1", list.stderr);
          // --all-projects asks about default too: refused unless default is one of its projects,
          // as LXD 5.0 decides it (the list would be filtered to its projects otherwise).
          const everywhere = await r(["list", "r3:", "--all-projects", "--format", "csv"]);
          assert.notEqual(everywhere.code, 0, everywhere.stdout);
          for (
            const [args, text] of [
              [["list", "r1:", "--project", "default", "--format", "csv"], /not authorized/i],
              [["list", "r2:", "--project", "g", "--format", "csv"], /not authorized/i],
              [
                ["init", "--empty", "r3:t2", "--project", "team", "--target", "m2"],
                /doesn't allow cluster member targeting/,
              ],
              [["project", "set", "r1:team", "limits.instances=100"], /not authorized/i],
              [["project", "create", "r2:mine"], /not authorized/i],
              [["project", "show", "r3:g"], /not authorized|not found/i],
            ] as [string[], RegExp][]
          ) {
            const x = await r(args);
            assert.notEqual(x.code, 0, `restricted lxc ${args.join(" ")} was accepted`);
            assert.match(x.stderr, text, `restricted lxc ${args.join(" ")}`);
          }
          const del = await r(["delete", "r3:t1", "--project", "team"]);
          assert.equal(del.code, 0, del.stderr);
        },
      );

      await t.step(
        "custom volumes live in their project (features.storage.volumes), PROJECT_NAME on disk",
        async () => {
          await ok(m1, ["project", "create", "vol", "-c", "features.profiles=false"]);
          await ok(m1, ["storage", "volume", "create", "default", "v1", "--project", "vol"]);
          await ok(m1, ["storage", "volume", "create", "default", "v1"]);
          await Deno.stat(`${m1.dir}/storage-pools/default/custom/vol_v1`);
          // limits.disk counts custom volumes by their size: one without is refused a limit.
          await refused(
            m2,
            ["project", "set", "vol", "limits.disk=1GiB"],
            /Custom volume "v1" in project "vol" has no 'size' set/,
          );
          await Deno.stat(`${m1.dir}/storage-pools/default/custom/default_v1`);
          const listed = await ok(m2, [
            "storage",
            "volume",
            "list",
            "default",
            "--project",
            "vol",
            "--format",
            "csv",
          ]);
          assert.equal(listed.trim().split("\n").filter((l) => l.includes(",v1,")).length, 1, listed);
          await ok(m1, ["init", "--empty", "x", "--project", "vol", "--target", "m1"]);
          await ok(m1, ["storage", "volume", "attach", "default", "v1", "x", "/mnt", "--project", "vol"]);
          assert.match(
            await ok(m1, ["storage", "volume", "show", "default", "v1", "--project", "vol"]),
            /- \/1\.0\/instances\/x\?project=vol/,
          );
          assert.doesNotMatch(await ok(m1, ["storage", "volume", "show", "default", "v1"]), /instances\/x/);
          await refused(
            m1,
            ["storage", "volume", "delete", "default", "v1", "--project", "vol"],
            /still in use/,
          );
          await ok(m1, ["delete", "x", "--project", "vol"]);
          await refused(m2, ["project", "delete", "vol"], /Only empty projects can be removed/);
          await ok(m1, ["storage", "volume", "delete", "default", "v1", "--project", "vol"]);
          await ok(m1, ["storage", "volume", "delete", "default", "v1"]);
          await ok(m3, ["project", "delete", "vol"]);
        },
      );

      await t.step("shoal's own client: project commands, --project and project switch", async () => {
        const sh = async (m: Member, args: string[]) => {
          const r = await m.shoal(args);
          assert.equal(r.code, 0, `shoal ${args.join(" ")}: ${r.stderr}`);
          return r.stdout;
        };
        await sh(m2, [
          "project",
          "create",
          "mine",
          "-c",
          "features.profiles=false",
          "-c",
          "limits.instances=1",
        ]);
        assert.match(await sh(m3, ["project", "list", "--format", "csv"]), /^mine,YES,NO,YES,NO,,0$/m);
        await sh(m3, ["init", "--empty", "q1", "--project", "mine"]);
        assert.equal(
          (await sh(m1, ["list", "--project", "mine", "--format", "csv", "-c", "n"])).trim(),
          "q1",
        );
        await sh(m1, ["project", "switch", "mine"]);
        assert.equal((await sh(m1, ["list", "--format", "csv", "-c", "n"])).trim(), "q1");
        const over = await m1.shoal(["init", "--empty", "q2"]);
        assert.notEqual(over.code, 0);
        assert.match(over.stderr, /limits\.instances=1/);
        assert.match(await sh(m1, ["project", "info", "mine"]), /\| INSTANCES +\| 1 +\| 1 +\|/);
        await sh(m1, ["delete", "q1"]);
        await sh(m1, ["project", "switch", "default"]);
        await sh(m2, ["project", "delete", "mine"]);
      });

      await t.step("limits hold under 20 parallel launches from three members", async () => {
        await ok(m1, [
          "project",
          "create",
          "race",
          "-c",
          "features.profiles=false",
          "-c",
          "features.images=false",
          "-c",
          "limits.instances=7",
        ]);
        const rounds: string[] = [];
        for (const round of [1, 2, 3]) {
          const mem = round === 3;
          // Seven creations target m1, the leader, whose writes need no forwarding: ten seats
          // leave three for m2's and m3's to race for.
          if (round === 2) await ok(m3, ["project", "set", "race", "limits.instances=10"]);
          if (mem) {
            // The third round counts memory: 4 x 64MiB fit in 256MiB.
            await ok(m1, ["project", "set", "race", "limits.instances=", "limits.memory=256MiB"]);
          }
          // Round 1 launches real containers from the image (placed by the scheduler, which
          // fetches the image where it lacks); the others create empty ones, round 2 on every
          // member at once (--target), so that three members' creations race for the last seats.
          const real = round === 1;
          const spread = round === 2;
          const results = await Promise.all(
            Array.from({ length: 20 }, (_, i) =>
              lxc(ms[i % 3]!, [
                ...(real ? ["launch", "bb"] : ["init", "--empty"]),
                `r${round}-${i}`,
                "--project",
                "race",
                ...(mem ? ["-c", "limits.memory=64MiB"] : []),
                ...(spread ? ["--target", `m${(i % 3) + 1}`] : []),
              ])),
          );
          const admitted = results.filter((r) => r.code === 0).length;
          const failures = results.filter((r) => r.code !== 0).map((r) => r.stderr.trim());
          // A member whose leader is lost for a moment (a loaded machine) answers 503: such a
          // launch did not happen, and is counted apart. Every other failure names the limit.
          const transient = failures.filter((e) =>
            /database leader|lost quorum|Not the database leader/i.test(e)
          );
          const refusals = failures.filter((e) => !transient.includes(e));
          for (const e of refusals) assert.match(e, mem ? /limits\.memory/ : /limits\.instances/, e);
          const rows = (await ok(m2, ["list", "--project", "race", "--format", "csv", "-c", "nL"])).trim()
            .split("\n")
            .filter((l) => l !== "").map((l) => l.split(","));
          const held = rows.map(([n]) => n!);
          const where = ["m1", "m2", "m3"].map((m) => `${m} ${rows.filter(([, l]) => l === m).length}`).join(
            ", ",
          );
          const limit = mem ? 4 : round === 2 ? 10 : 7;
          // Never one over the limit; exactly the limit unless a launch could not be tried.
          assert.ok(admitted <= limit, `round ${round}: ${admitted} admitted past ${limit}`);
          if (transient.length === 0) assert.equal(admitted, limit, `round ${round}: ${admitted} admitted`);
          assert.equal(held.length, admitted);
          rounds.push(
            `round ${round} (${
              real ? "lxc launch" : spread ? "lxc init --empty --target" : "lxc init --empty"
            }, ${
              mem ? "limits.memory=256MiB" : `limits.instances=${limit}`
            }): ${admitted} admitted (${where}), ${refusals.length} refused${
              transient.length ? `, ${transient.length} not tried (no leader for a moment)` : ""
            }`,
          );
          await Promise.all(
            held.map((n, i) => ok(ms[i % 3]!, ["delete", "--force", n, "--project", "race"])),
          );
        }
        console.log(`projects limit race, 20 parallel creations from 3 members:\n  ${rounds.join("\n  ")}`);
      });
    } finally {
      for (const m of ms) await stopContainers(m.dir);
      for (const m of [...ms].reverse()) await m.stop();
    }
  },
});
