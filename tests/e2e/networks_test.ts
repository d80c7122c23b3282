/**
 * Managed networks on one member, for real, in a network namespace the test makes: the preseed's
 * lxdbr0 with an eth0 nic in the default profile (LXD's seed example), a Linux bridge with its
 * address and NAT, a supervised dnsmasq, containers that get leases (IPV4 in `lxc list`) and reach
 * each other by name, `lxc network list-leases`, and bad input that changes nothing.
 */
import assert from "node:assert/strict";
import { Member, tempDir, waitFor } from "../helpers/member.ts";
import { cmd, inNetns, NetnsSet, nsCmd, uniquePrefix } from "../helpers/netns.ts";
import { dhcpBusyboxImage } from "../helpers/dhcp_image.ts";
import { NETWORK_PRESEED as PRESEED } from "../compat/instances_helpers.ts";

/**
 * The dnsmasq processes of namespace ns (pgrep would see every test's and member's on the
 * machine: they share the pid namespace).
 */
async function dnsmasqIn(ns: string): Promise<string[]> {
  const pids = (await cmd("ip", ["netns", "pids", ns], { check: false })).stdout.split(/\s+/).filter((p) =>
    p
  );
  const out: string[] = [];
  for (const p of pids) {
    const comm = await Deno.readTextFile(`/proc/${p}/comm`).catch(() => "");
    if (comm.trim() === "dnsmasq") out.push(p);
  }
  return out;
}

/** c's IPv4 as `lxc list` shows it, or "". */
async function ipv4(m: Member, c: string): Promise<string> {
  const r = await m.lxc(["list", "-c", "n4", "--format", "csv"]);
  const line = r.stdout.split("\n").find((l) => l.startsWith(`${c},`)) ?? "";
  return /(\d+\.\d+\.\d+\.\d+) \(eth0\)/.exec(line)?.[1] ?? "";
}

Deno.test("managed bridges on a member: leases, names, NAT, supervision, bad input", async (t) => {
  await using tmp = await tempDir("net");
  await using set = new NetnsSet(uniquePrefix("snet"));
  const ns = await set.add("m1", { localnet: true });
  const m = await new Member(`${tmp.path}/m1`, "m1", {}, inNetns(ns, "env")).start();
  try {
    let net = "";
    await t.step(
      "the preseed's lxdbr0: a bridge with an auto /24, NAT and dnsmasq, in the member's namespace only",
      async () => {
        const r = await m.shoald(["init", "--preseed"], { stdin: PRESEED });
        assert.equal(r.code, 0, r.stderr + (await m.logTail()));
        net = (await m.lxc(["network", "get", "lxdbr0", "ipv4.address"])).stdout.trim();
        assert.match(net, /^10\.\d+\.\d+\.1\/24$/);
        const addr = await nsCmd(ns, "ip", ["-4", "-o", "addr", "show", "dev", "lxdbr0"]);
        assert.match(addr.stdout, new RegExp(`inet ${net.replace(/\./g, "\\.")} `));
        const nft = await nsCmd(ns, "nft", ["list", "chain", "inet", "shoal", "pstrt.lxdbr0"]);
        assert.match(nft.stdout, /masquerade/);
        // Nothing of it in the namespace the test runs in.
        assert.equal((await cmd("ip", ["link", "show", "lxdbr0"], { check: false })).code, 1);
        const list = await m.lxc(["network", "list", "--format", "csv"]);
        assert.match(list.stdout, /^lxdbr0,bridge,YES,10\.\d+\.\d+\.1\/24,.*,CREATED$/m, list.stdout);
      },
    );

    await t.step(
      "two containers get leases from the member's dnsmasq and reach each other by name",
      async () => {
        const image = await dhcpBusyboxImage(tmp.path);
        assert.equal((await m.lxc(["image", "import", image, "--alias", "bb"])).code, 0);
        for (const c of ["c1", "c2"]) {
          const r = await m.lxc(["launch", "bb", c]);
          assert.equal(r.code, 0, r.stderr);
        }
        const base = net.split(".").slice(0, 3).join(".");
        const ip1 = await waitFor("c1's lease in lxc list", () => ipv4(m, "c1"), 30_000, 100);
        const ip2 = await waitFor("c2's lease in lxc list", () => ipv4(m, "c2"), 30_000, 100);
        assert.ok(ip1.startsWith(`${base}.`) && ip2.startsWith(`${base}.`), `${ip1} ${ip2} in ${net}`);
        const leases = await m.lxc(["network", "list-leases", "lxdbr0", "--format", "csv"]);
        assert.match(
          leases.stdout,
          new RegExp(`^c1,00:16:3e:[0-9a-f:]{8},${ip1.replace(/\./g, "\\.")},DYNAMIC`, "m"),
        );
        const ns = await waitFor(
          "c1 resolving c2 through the bridge's DNS",
          async () => {
            const r = await m.lxc(["exec", "c1", "--", "nslookup", "c2"]);
            return r.code === 0 && r.stdout.includes(ip2) ? r.stdout : null;
          },
          30_000,
          200,
        );
        assert.ok(ns.includes(ip2));
        const ping = await m.lxc(["exec", "c1", "--", "ping", "-c", "1", "-W", "5", "c2"]);
        assert.equal(ping.code, 0, ping.stdout + ping.stderr);
      },
    );

    await t.step("a dnsmasq that dies is started again by the daemon", async () => {
      const pid = (await dnsmasqIn(ns)).join(" ");
      assert.match(pid, /^\d+$/);
      Deno.kill(Number(pid), "SIGKILL");
      await waitFor(
        "a new dnsmasq",
        async () => {
          const now = (await dnsmasqIn(ns)).join(" ");
          return /^\d+$/.test(now) && now !== pid;
        },
        20_000,
        100,
      );
    });

    await t.step("bad input gets LXD's refusals and changes nothing", async () => {
      const cases: [string[], RegExp][] = [
        [
          ["network", "create", "br2", `ipv4.address=${net.replace(/\.1\//, ".5/")}`],
          /overlaps .* already in use/,
        ],
        [["network", "create", "br2", "bogus.key=1"], /Invalid option "bogus.key"/],
        [["network", "create", "br2", "ipv4.address=10.0.0.0/24"], /network's own or broadcast/],
        [["network", "create", "lxdbr0"], /already exists/],
        [["network", "create", "lo"], /already exists/],
        [["network", "create", "a-name-much-too-long"], /too long/],
      ];
      for (const [args, want] of cases) {
        const r = await m.lxc(args);
        assert.notEqual(r.code, 0, args.join(" "));
        assert.match(r.stderr, want, args.join(" "));
      }
      const list = await m.lxc(["network", "list", "--format", "csv"]);
      assert.equal(list.stdout.trim().split("\n").length, 1, list.stdout);
      assert.equal((await nsCmd(ns, "ip", ["link", "show", "br2"], { check: false })).code, 1);
      const del = await m.lxc(["network", "delete", "lxdbr0"]);
      assert.notEqual(del.code, 0);
      assert.match(del.stderr, /currently in use/);
    });

    await t.step("a network no one uses is deleted with its bridge, NAT and dnsmasq", async () => {
      const c = await m.lxc(["network", "create", "br9", "ipv4.address=10.250.250.1/24", "ipv4.nat=true"]);
      assert.equal(c.code, 0, c.stderr);
      assert.equal((await nsCmd(ns, "ip", ["link", "show", "br9"], { check: false })).code, 0);
      const d = await m.lxc(["network", "delete", "br9"]);
      assert.equal(d.code, 0, d.stderr);
      assert.equal((await nsCmd(ns, "ip", ["link", "show", "br9"], { check: false })).code, 1);
      assert.notEqual(
        (await nsCmd(ns, "nft", ["list", "chain", "inet", "shoal", "pstrt.br9"], { check: false })).code,
        0,
      );
      assert.equal((await dnsmasqIn(ns)).length, 1);
    });
  } finally {
    await m.stop();
  }
});
