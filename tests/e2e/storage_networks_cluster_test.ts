/**
 * Pools, volumes and networks across a real three-member cluster, each member in a network
 * namespace of its own (veths to a hub bridge carrying 127.0.0.161-164), driven by the real lxc
 * client: two-phase pool and network creation (PENDING, then CREATED with each member's part),
 * all or nothing (a member missing, failing or offline undoes the others' parts), member-specific
 * keys with --target, volumes per member with LOCATION, a container on a managed bridge leased an
 * address, member removal refused while it holds volumes, and a joiner taking its part.
 */
import assert from "node:assert/strict";
import { formCluster, joinMember } from "../helpers/cluster.ts";
import { dhcpBusyboxImage } from "../helpers/dhcp_image.ts";
import { type Member, tempDir, waitFor } from "../helpers/member.ts";
import { inNetns, NetnsSet, nsCmd, uniquePrefix } from "../helpers/netns.ts";

const A = ["127.0.0.161", "127.0.0.162", "127.0.0.163", "127.0.0.164"];

const PRESEED = `storage_pools:
- name: default
  driver: dir
profiles:
- name: default
  devices:
    root:
      path: /
      pool: default
      type: disk
`;

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** A resource's STATE column in `lxc storage list` / `lxc network list`. */
async function state(m: Member, kind: "storage" | "network", name: string): Promise<string> {
  const r = await m.lxc([kind, "list", "--format", "csv"]);
  const line = r.stdout.split("\n").find((l) => l.startsWith(`${name},`)) ?? "";
  return /(?:^|,)(PENDING|CREATED|ERRORED|UNKNOWN)(?:,|$)/.exec(line)?.[1] ?? `none: ${r.stdout}${r.stderr}`;
}

async function ok(m: Member, args: string[], stdin?: string): Promise<string> {
  const r = await m.lxc(args, stdin === undefined ? {} : { stdin });
  assert.equal(r.code, 0, `lxc ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

async function refused(m: Member, args: string[], msg: RegExp): Promise<void> {
  const r = await m.lxc(args);
  assert.equal(r.code, 1, `lxc ${args.join(" ")} was not refused: ${r.stdout}`);
  assert.match(r.stderr, msg);
}

Deno.test("pools, volumes and networks across members in namespaces of their own, with the real lxc", async (t) => {
  await using tmp = await tempDir("storenet");
  await using set = new NetnsSet(uniquePrefix("sn"));
  await set.star(A);
  const wrap = (name: string) => inNetns(set.name(name), "env");
  const members = await formCluster(tmp.path, A.slice(0, 3), { wrap, preseed: PRESEED });
  const [m1, m2, m3] = members as [Member, Member, Member];
  const d = (n: string) => `${tmp.path}/${n}`;
  let launched = false;
  try {
    await t.step(
      "storage create --target leaves the pool PENDING; bad first-phase input records nothing",
      async () => {
        await Deno.mkdir(d("d1"));
        await ok(m1, ["storage", "create", "data", "dir", `source=${d("d1")}`, "--target", "m1"]);
        assert.equal(await state(m1, "storage", "data"), "PENDING");
        await refused(
          m1,
          ["storage", "create", "data2", "dir", "rsync.bwlimit=10", "--target", "m1"],
          /Config key "rsync\.bwlimit" may not be used as member-specific key/,
        );
        assert.doesNotMatch(await ok(m1, ["storage", "list", "--format", "csv"]), /^data2,/m);
        await refused(
          m1,
          ["storage", "create", "data", "dir", `source=${d("d1")}`, "--target", "m1"],
          /The storage pool already defined on member "m1"/,
        );
        await refused(m1, ["storage", "create", "data", "dir", "--target", "m9"], /Cluster member not found/);
        await ok(m1, ["storage", "create", "data", "dir", `source=${d("d2")}`, "--target", "m2"]);
        await refused(m1, ["storage", "create", "data", "dir"], /Pool not defined on nodes: m3/);
        await refused(
          m1,
          ["storage", "volume", "create", "data", "early"],
          /Storage pool "data" is pending on this member/,
        );
        assert.equal(await state(m1, "storage", "data"), "PENDING");
        assert.deepEqual(
          [...Deno.readDirSync(d("d1"))],
          [],
          "m1 made its part before every member was defined",
        );
      },
    );

    await t.step("the plain create makes the pool on every member with its own source: CREATED", async () => {
      await ok(m1, ["storage", "create", "data", "dir", `source=${d("d3")}`, "--target", "m3"]);
      await refused(
        m1,
        ["storage", "create", "data", "dir", "source=/x"],
        /Config key "source" is cluster member specific/,
      );
      await ok(m1, ["storage", "create", "data", "dir"]);
      assert.equal(await state(m1, "storage", "data"), "CREATED");
      for (const n of ["d1", "d2", "d3"]) {
        assert.ok(await exists(`${d(n)}/custom`), `${n} has no pool layout`);
      }
      const show = await ok(m1, ["storage", "show", "data", "--target", "m2"]);
      assert.match(show, new RegExp(`source: ${d("d2")}\\n`));
      assert.match(show, /status: Created/);
      assert.doesNotMatch(await ok(m1, ["storage", "show", "data"]), /source:/);
      assert.equal((await ok(m2, ["storage", "get", "data", "source", "--target", "m3"])).trim(), d("d3"));
      // Member-specific keys with --target; global keys without.
      await ok(m1, ["storage", "set", "data", "size=5GiB", "--target", "m2"]);
      assert.equal((await ok(m1, ["storage", "get", "data", "size", "--target", "m2"])).trim(), "5GiB");
      assert.equal((await ok(m1, ["storage", "get", "data", "size", "--target", "m1"])).trim(), "");
      await ok(m1, ["storage", "set", "data", "rsync.bwlimit=10"]);
      assert.equal(
        (await ok(m3, ["storage", "get", "data", "rsync.bwlimit", "--target", "m3"])).trim(),
        "10",
      );
      await refused(
        m1,
        ["storage", "set", "data", "size=1GiB"],
        /Config key "size" is cluster member specific/,
      );
      await refused(
        m1,
        ["storage", "set", "data", "rsync.bwlimit=20", "--target", "m2"],
        /Config key "rsync\.bwlimit" may not be used as cluster member specific key/,
      );
    });

    await t.step("a member's part that fails undoes the others': nothing is left half created", async () => {
      await Deno.writeTextFile(d("file"), "not a directory");
      await ok(m1, ["storage", "create", "data3", "dir", `source=${d("d31")}`, "--target", "m1"]);
      await ok(m1, ["storage", "create", "data3", "dir", `source=${d("file")}/sub`, "--target", "m2"]);
      await ok(m1, ["storage", "create", "data3", "dir", `source=${d("d33")}`, "--target", "m3"]);
      await refused(m1, ["storage", "create", "data3", "dir"], /failed to notify peer 127\.0\.0\.162:8443/);
      assert.equal(await state(m1, "storage", "data3"), "PENDING");
      assert.ok(!await exists(d("d31")) && !await exists(d("d33")), "m1's or m3's part of data3 was left");
      // Fixed with --target, the same command then succeeds.
      await ok(m1, ["storage", "set", "data3", `source=${d("d32")}`, "--target", "m2"]);
      await ok(m1, ["storage", "create", "data3", "dir"]);
      assert.equal(await state(m1, "storage", "data3"), "CREATED");
      for (const n of ["d31", "d32", "d33"]) assert.ok(await exists(`${d(n)}/containers`));
      await ok(m1, ["storage", "delete", "data3"]);
      for (const n of ["d31", "d32", "d33"]) assert.ok(!await exists(d(n)), `${n} outlived the pool`);
    });

    await t.step("an offline member fails the create with LXD's message, and nothing is made", async () => {
      await m3.stop();
      await waitFor(
        "m3 OFFLINE",
        async () => /m3,.*OFFLINE/.test(await ok(m1, ["cluster", "list", "--format", "csv"])),
      );
      for (const [i, m] of ["m1", "m2", "m3"].entries()) {
        await ok(m1, ["storage", "create", "data4", "dir", `source=${d(`d4${i}`)}`, "--target", m]);
      }
      await refused(m1, ["storage", "create", "data4", "dir"], /peer node 127\.0\.0\.163:8443 is down/);
      assert.equal(await state(m1, "storage", "data4"), "PENDING");
      assert.ok(!await exists(d("d40")) && !await exists(d("d41")));
      await ok(m1, ["storage", "delete", "data4"]);
      await m3.start();
      await waitFor(
        "m3 ONLINE",
        async () => /m3,.*ONLINE/.test(await ok(m1, ["cluster", "list", "--format", "csv"])),
      );
    });

    await t.step("volumes live on one member each: LOCATION, ambiguity refused, --target", async () => {
      await ok(m1, ["storage", "volume", "create", "data", "web"]);
      await ok(m1, ["storage", "volume", "create", "data", "web", "--target", "m2"]);
      await refused(m1, ["storage", "volume", "create", "data", "web", "--target", "m2"], /already exists/);
      const list = await ok(m1, ["storage", "volume", "list", "data", "-c", "nL", "--format", "csv"]);
      assert.match(list, /^web,m1$/m);
      assert.match(list, /^web,m2$/m);
      await refused(
        m1,
        ["storage", "volume", "show", "data", "web"],
        /More than one cluster member has a volume named "web"/,
      );
      assert.match(
        await ok(m1, ["storage", "volume", "show", "data", "web", "--target", "m2"]),
        /^location: m2$/m,
      );
      assert.ok(await exists(`${d("d2")}/custom/default_web`), "m2's volume is not in m2's pool");
      await ok(m1, ["storage", "volume", "rename", "data", "web", "web2", "--target", "m2"]);
      assert.ok(await exists(`${d("d2")}/custom/default_web2`));
      assert.match(await ok(m3, ["storage", "volume", "show", "data", "web2"]), /^location: m2$/m);
    });

    let net = "";
    await t.step(
      "network create --target on each member, then the create: one /24 on a bridge in every namespace",
      async () => {
        // m1's own key: an interface of its namespace joins its bridge, and only there.
        await nsCmd(set.name("m1"), "ip", ["link", "add", "ext0", "type", "veth", "peer", "name", "ext0p"]);
        await ok(m1, ["network", "create", "br1", "bridge.external_interfaces=ext0", "--target", "m1"]);
        for (const m of ["m2", "m3"]) {
          await ok(m1, ["network", "create", "br1", "--target", m]);
          assert.equal(await state(m1, "network", "br1"), "PENDING");
        }
        await refused(
          m1,
          ["network", "create", "br2", "ipv4.nat=true", "--target", "m1"],
          /Config key "ipv4\.nat" may not be used as member-specific key/,
        );
        await refused(
          m1,
          ["network", "create", "br1", "bridge.external_interfaces=eth9"],
          /Config key "bridge\.external_interfaces" is cluster member specific/,
        );
        await ok(m1, ["network", "create", "br1", "ipv4.address=auto", "ipv6.address=none"]);
        assert.equal(await state(m1, "network", "br1"), "CREATED");
        net = (await ok(m1, ["network", "get", "br1", "ipv4.address"])).trim();
        assert.match(net, /^10\.\d+\.\d+\.1\/24$/);
        for (const m of ["m1", "m2", "m3"]) {
          const a = await nsCmd(set.name(m), "ip", ["-4", "-o", "addr", "show", "dev", "br1"]);
          assert.match(a.stdout, new RegExp(`inet ${net.replace(/\./g, "\\.")} `), `${m}: ${a.stdout}`);
        }
        assert.match(await ok(m1, ["network", "show", "br1", "--target", "m2"]), /status: Created/);
        assert.match(
          (await nsCmd(set.name("m1"), "ip", ["-o", "link", "show", "ext0"])).stdout,
          /master br1/,
        );
        assert.equal(
          (await ok(m1, ["network", "get", "br1", "bridge.external_interfaces", "--target", "m1"])).trim(),
          "ext0",
        );
        assert.equal(
          (await ok(m1, ["network", "get", "br1", "bridge.external_interfaces", "--target", "m2"])).trim(),
          "",
        );
        assert.doesNotMatch(await ok(m1, ["network", "show", "br1"]), /external_interfaces/);
        await refused(m1, ["network", "create", "br1", "--target", "m1"], /Network is not in pending state/);
        await refused(m1, ["network", "create", "br1"], /already/);
        // An address range in use: refused at the create, nothing made on any member.
        for (const m of ["m1", "m2", "m3"]) await ok(m1, ["network", "create", "br2", "--target", m]);
        await refused(
          m1,
          ["network", "create", "br2", `ipv4.address=${net.replace(/\.1\//, ".9/")}`],
          /overlaps .* already in use/,
        );
        assert.equal(await state(m1, "network", "br2"), "PENDING");
        for (const m of ["m1", "m2", "m3"]) {
          const r = await nsCmd(set.name(m), "ip", ["link", "show", "br2"], { check: false });
          assert.notEqual(r.code, 0, `br2 made on ${m}`);
        }
        await ok(m1, ["network", "delete", "br2"]);
        await refused(m1, ["storage", "create", "data", "dir"], /The storage pool is already created/);
      },
    );

    await t.step(
      "a container on br1 gets a lease; its volume cannot be deleted; its member cannot be removed",
      async () => {
        const image = await dhcpBusyboxImage(tmp.path);
        await ok(m1, ["image", "import", image, "--alias", "bb"]);
        launched = true;
        await ok(m1, ["launch", "bb", "c1", "--target", "m1", "-n", "br1"]);
        const base = net.split(".").slice(0, 3).join(".");
        const ip = await waitFor(
          "c1's IPv4 in lxc list",
          async () => {
            const line = (await ok(m1, ["list", "-c", "n4", "--format", "csv"])).split("\n").find((l) =>
              l.startsWith("c1,")
            );
            return /(\d+\.\d+\.\d+\.\d+) \(eth0\)/.exec(line ?? "")?.[1];
          },
          30_000,
          100,
        );
        assert.ok(ip.startsWith(`${base}.`), `${ip} not in ${net}`);
        // Any member shows it: m2 asks m1, which holds c1.
        assert.match(
          await ok(m2, ["list", "c1", "-c", "4", "--format", "csv"]),
          new RegExp(ip.replace(/\./g, "\\.")),
        );
        // A container on m2 is leased by m2's dnsmasq; list-leases on m1 gathers every member's.
        // (Images stay on the member that imported them here: m2 gets one of its own.)
        await Deno.mkdir(`${tmp.path}/second`);
        await ok(m2, ["image", "import", await dhcpBusyboxImage(`${tmp.path}/second`), "--alias", "bb2"]);
        await ok(m1, ["launch", "bb2", "c2", "--target", "m2", "-n", "br1"]);
        const leases = await waitFor(
          "c1's and c2's leases in list-leases on m1",
          async () => {
            const out = await ok(m1, ["network", "list-leases", "br1", "--format", "csv"]);
            return /^c2,.*,m2$/m.test(out) && out;
          },
          30_000,
          200,
        );
        assert.match(leases, new RegExp(`^c1,.*,${ip.replace(/\./g, "\\.")},DYNAMIC,m1$`, "m"));
        await ok(m1, ["delete", "--force", "c2"]);
        await ok(m1, ["image", "delete", "bb2"]);
        // web is on m1 only after m2's was renamed: lxc attaches it by name.
        await ok(m1, ["storage", "volume", "attach", "data", "web", "c1", "/srv"]);
        assert.match(await ok(m1, ["config", "device", "show", "c1"]), /source: web/);
        await refused(m1, ["storage", "volume", "delete", "data", "web", "--target", "m1"], /still in use/);
        await refused(m1, ["cluster", "remove", "m2"], /Node still has the following custom volumes: web2/);
        assert.match(await ok(m1, ["cluster", "list", "--format", "csv"]), /^m2,/m);
      },
    );

    await t.step(
      "shoal's own client drives the same: two phases, --target, LOCATION, STATE, leases",
      async () => {
        const sh = async (args: string[]) => {
          const r = await m1.shoal(args);
          assert.equal(r.code, 0, `shoal ${args.join(" ")}: ${r.stderr}`);
          return r.stdout;
        };
        for (const [i, m] of ["m1", "m2", "m3"].entries()) {
          await sh(["storage", "create", "data5", "dir", `source=${d(`d5${i}`)}`, "--target", m]);
        }
        assert.match(await sh(["storage", "list", "--format", "csv"]), /^data5,dir,,0,PENDING$/m);
        await sh(["storage", "create", "data5", "dir"]);
        for (
          const args of [
            ["storage", "list", "--format", "csv"],
            ["storage", "volume", "list", "data", "--format", "csv"],
            ["network", "list", "--format", "csv"],
            ["network", "list-leases", "br1", "--format", "csv"],
          ]
        ) {
          assert.equal(await sh(args), await ok(m1, args), `shoal and lxc differ on ${args.join(" ")}`);
        }
        assert.equal((await sh(["storage", "get", "data5", "source", "--target", "m2"])).trim(), d("d51"));
        assert.match(
          await sh(["storage", "volume", "show", "data", "web2", "--target", "m2"]),
          /^location: m2$/m,
        );
        await sh(["storage", "delete", "data5"]);
        assert.ok(!await exists(d("d50")) && !await exists(d("d52")));
      },
    );

    await t.step("a joining member takes its part of every pool and network", async () => {
      // Its answers to the member-specific keys: its own source for data, its own uplink for br1.
      await nsCmd(set.name("m4"), "ip", ["link", "add", "up4", "type", "veth", "peer", "name", "up4p"]);
      const answers = [
        ["storage-pool", "data", "source", d("d4data")],
        ["network", "br1", "bridge.external_interfaces", "up4"],
      ].map(([entity, name, key, value]) =>
        `  - entity: ${entity}\n    name: ${name}\n    key: ${key}\n    value: ${value}\n`
      ).join("");
      const m4 = await joinMember(
        tmp.path,
        m1,
        "m4",
        A[3]!,
        undefined,
        wrap("m4"),
        `  member_config:\n${answers}`,
      );
      members.push(m4);
      assert.match(await ok(m1, ["storage", "show", "data", "--target", "m4"]), /status: Created/);
      assert.equal(
        (await ok(m1, ["storage", "get", "data", "source", "--target", "m4"])).trim(),
        d("d4data"),
      );
      assert.ok(await exists(`${d("d4data")}/custom`));
      assert.match((await nsCmd(set.name("m4"), "ip", ["-o", "link", "show", "up4"])).stdout, /master br1/);
      assert.equal(
        (await ok(m1, ["network", "get", "br1", "bridge.external_interfaces", "--target", "m4"])).trim(),
        "up4",
      );
      const a = await nsCmd(set.name("m4"), "ip", ["-4", "-o", "addr", "show", "dev", "br1"]);
      assert.match(a.stdout, new RegExp(`inet ${net.replace(/\./g, "\\.")} `));
      assert.match(await ok(m1, ["network", "show", "br1", "--target", "m4"]), /status: Created/);
    });

    await t.step(
      "deletes reach every member; --force removes a member with its volumes' records",
      async () => {
        await ok(m1, ["delete", "--force", "c1"]);
        launched = false;
        // A change of a global key reaches every member's bridge.
        const next = net.startsWith("10.254.253.") ? "10.254.252.1/24" : "10.254.253.1/24";
        await ok(m1, ["network", "set", "br1", `ipv4.address=${next}`]);
        for (const m of ["m1", "m2", "m3", "m4"]) {
          const a = await nsCmd(set.name(m), "ip", ["-4", "-o", "addr", "show", "dev", "br1"]);
          assert.match(a.stdout, new RegExp(`inet ${next.replace(/\./g, "\\.")} `), `${m}: ${a.stdout}`);
        }
        await ok(m1, ["network", "delete", "br1"]);
        for (const m of ["m1", "m2", "m3", "m4"]) {
          const r = await nsCmd(set.name(m), "ip", ["link", "show", "br1"], { check: false });
          assert.notEqual(r.code, 0, `br1 left on ${m}`);
        }
        await ok(m1, ["cluster", "remove", "m2", "--force"], "yes\n");
        const list = await ok(m1, ["storage", "volume", "list", "data", "-c", "nL", "--format", "csv"]);
        assert.doesNotMatch(list, /,m2$/m);
        assert.match(list, /^web,m1$/m);
      },
    );
  } finally {
    if (launched) { for (const c of ["c1", "c2"]) await m1.lxc(["delete", "--force", c]).catch(() => {}); }
    for (const m of members) await m.stop().catch(() => {});
  }
});
