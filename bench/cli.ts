/**
 * Commands as whole processes, beside the real lxc against the same member and a floor from the
 * same run (a Deno process that prints one line): `shoal cluster list`, `shoal list`, `lxc cluster
 * list`, `lxc list`, `shoald init --preseed` bootstrapping a fresh member, and a token join of a
 * second one (the init command alone, each member already running). Member at 127.0.0.178;
 * joiners at 127.0.0.179. Debian's LXD, when installed, beside: `lxd init --preseed` bootstrapping
 * and joining likewise (its member at 127.0.0.184, joiners at 127.0.0.185).
 *
 *   deno run -A bench/cli.ts [--runs 21]
 * @module
 */
import { formatStats, percentiles, type Stats } from "./floors.ts";
import { Member, run, SHOAL, SHOALD, tempDir } from "../tests/helpers/member.ts";
import { findLxd, LxdDaemon } from "./lxd.ts";

const runs = Number(Deno.args[Deno.args.indexOf("--runs") + 1] || 21);
const A = "127.0.0.178";
const J = "127.0.0.179";

async function timed(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  stdin?: string,
): Promise<number> {
  const t0 = performance.now();
  const r = await run(cmd, args, { env, stdin });
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
  return ms;
}

async function series(n: number, f: () => Promise<number>): Promise<Stats> {
  await f(); // warm-up: caches, page cache
  const xs: number[] = [];
  for (let i = 0; i < n; i++) xs.push(await f());
  return percentiles(xs);
}

await using dir = await tempDir("bench-cli");
const hello = `${dir.path}/hello.js`;
await Deno.writeTextFile(hello, "console.log(1);\n");
const floor = await series(runs, () => timed(Deno.execPath(), ["run", "--quiet", hello], {}));
console.log("floor (same run):");
console.log(formatStats("  deno process printing one line", floor));

const m = await new Member(`${dir.path}/m1`, "m1", {}, [], { debug: false }).start();
try {
  const boot = await m.shoald(["init", "--preseed"], {
    stdin: `config:\n  core.https_address: ${A}:8443\ncluster:\n  server_name: m1\n  enabled: true\n`,
  });
  if (boot.code !== 0) throw new Error(boot.stderr);
  // lxc keeps its config under HOME; shoal's deno finds its cache under the real HOME.
  const lxcEnv = m.lxcEnv();
  const haveLxc = (await run("sh", ["-c", "command -v lxc"])).code === 0;
  console.log("\nwhole processes against one clustered member:");
  for (
    const [label, cmd, args] of [
      ["shoal cluster list", SHOAL, ["cluster", "list"]],
      ["shoal list", SHOAL, ["list"]],
      ...(haveLxc ? [["lxc cluster list", "lxc", ["cluster", "list"]], ["lxc list", "lxc", ["list"]]] : []),
    ] as [string, string, string[]][]
  ) {
    const env = cmd === "lxc" ? lxcEnv : m.env;
    console.log(formatStats(`  ${label}`, await series(runs, () => timed(cmd, args, env))));
  }
  if (!haveLxc) console.log("  (lxc not installed: its rows are missing)");

  // Bootstrap: a fresh running member each time, the init command timed alone.
  const bootTimes: number[] = [];
  const joinTimes: number[] = [];
  const rounds = Math.max(3, Math.min(7, Math.floor(runs / 3)));
  for (let i = 0; i < rounds; i++) {
    const f = await new Member(`${dir.path}/b${i}`, `b${i}`, {}, [], { debug: false }).start();
    try {
      bootTimes.push(
        await timed(
          SHOALD,
          ["init", "--preseed"],
          f.env,
          `config:\n  core.https_address: ${J}:8443\ncluster:\n  server_name: b${i}\n  enabled: true\n`,
        ),
      );
    } finally {
      await f.stop();
    }
    const tok = (await m.shoal(["cluster", "add", `j${i}`, "--quiet"])).stdout.trim();
    const j = await new Member(`${dir.path}/j${i}`, `j${i}`, {}, [], { debug: false }).start();
    try {
      joinTimes.push(
        await timed(
          SHOALD,
          ["init", "--preseed"],
          j.env,
          `cluster:\n  enabled: true\n  server_name: j${i}\n  server_address: ${J}:8443\n  cluster_token: ${tok}\n`,
        ),
      );
      // Out again, so that the next one joins a cluster of the same size on the same address.
      const rm = await m.shoal(["cluster", "remove", `j${i}`, "--force", "--quiet"], { stdin: "yes\n" });
      if (rm.code !== 0) throw new Error(`cluster remove j${i}: ${rm.stderr}`);
    } finally {
      await j.stop();
    }
  }
  console.log("\nshoald init --preseed (the command alone, its member already running):");
  console.log(formatStats("  bootstrap a cluster", percentiles(bootTimes)));
  console.log(formatStats("  join by token (a one-member cluster)", percentiles(joinTimes)));
  await lxdInit(rounds);
} finally {
  await m.stop();
}

/** The same bootstrap and join with Debian's LXD, each init timed alone as shoal's. */
async function lxdInit(rounds: number): Promise<void> {
  const lxd = findLxd();
  if (!lxd) return console.log("  (lxd not installed: no LXD rows)");
  const [LA, LJ] = ["127.0.0.184", "127.0.0.185"];
  const boot = (name: string, addr: string) =>
    `config:\n  core.https_address: ${addr}:8443\ncluster:\n  server_name: ${name}\n  enabled: true\n`;
  const l1 = await new LxdDaemon(lxd, `${dir.path}/l1`).start();
  const bootTimes: number[] = [];
  const joinTimes: number[] = [];
  try {
    await l1.preseed(boot("l1", LA));
    for (let i = 0; i < rounds; i++) {
      const f = await new LxdDaemon(lxd, `${dir.path}/lb${i}`).start();
      try {
        bootTimes.push(await timed(lxd, ["init", "--preseed"], f.env, boot(`lb${i}`, LJ)));
      } finally {
        await f.stop();
      }
      const tok = (await l1.lxc(["cluster", "add", `lj${i}`])).trim().split("\n").pop()!;
      const j = await new LxdDaemon(lxd, `${dir.path}/lj${i}`).start();
      try {
        joinTimes.push(
          await timed(
            lxd,
            ["init", "--preseed"],
            j.env,
            `cluster:\n  enabled: true\n  server_name: lj${i}\n  server_address: ${LJ}:8443\n  cluster_token: ${tok}\n`,
          ),
        );
      } finally {
        await j.stop();
      }
      await l1.lxc(["cluster", "remove", `lj${i}`, "--force", "--yes"]);
    }
  } finally {
    await l1.stop();
  }
  console.log(formatStats("  LXD: lxd init --preseed, bootstrap", percentiles(bootTimes)));
  console.log(formatStats("  LXD: lxd init --preseed, join by token", percentiles(joinTimes)));
}
