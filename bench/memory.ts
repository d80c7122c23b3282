/**
 * Resident memory of members at rest: one standalone member, and each member of a three-member
 * cluster (127.0.0.170-172), 10 s after it formed, idle, sampled once a second for 10 s more
 * (median and max), with what the total is made of: the process's own (anonymous) pages, the
 * executable's pages it maps (shared with every other Deno process: PSS counts each member's
 * share) and V8's heap in use. Floor from the same run: an idle Deno process that loaded nothing.
 *
 *   deno run -A bench/memory.ts [--rest SECONDS]   (how long members rest before sampling; 10)
 * @module
 */
import { formCluster } from "../tests/helpers/cluster.ts";
import { Member, tempDir } from "../tests/helpers/member.ts";
import { percentiles, printRows } from "./floors.ts";

const ADDR = ["127.0.0.170", "127.0.0.171", "127.0.0.172"];
// Members log as in production (no --debug), as the other benches run them.
Deno.env.set("SHOAL_BENCH", "1");

const restArg = Deno.args.indexOf("--rest");
const REST_S = restArg >= 0 ? Number(Deno.args[restArg + 1]) : 10;
if (!(REST_S >= 0)) throw new Error("--rest takes a number of seconds");

type Sample = { rss: number; anon: number; file: number; pss: number };

function sample(pid: number): Sample {
  const st = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(st)?.[1] ?? NaN);
  let pss = NaN;
  try {
    pss = Number(/Pss:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`))?.[1] ?? NaN);
  } catch { /* older kernel */ }
  return { rss: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile"), pss };
}

async function watch(pids: number[], seconds = 10): Promise<Sample[][]> {
  const out: Sample[][] = pids.map(() => []);
  for (let i = 0; i < seconds; i++) {
    pids.forEach((p, j) => out[j]!.push(sample(p)));
    await new Promise((r) => setTimeout(r, 1000));
  }
  return out;
}

const mib = (kb: number) => (kb / 1024).toFixed(1);

function row(label: string, xs: Sample[]): string[] {
  const med = (k: keyof Sample) => percentiles(xs.map((x) => x[k])).median;
  const max = percentiles(xs.map((x) => x.rss)).max;
  return [label, mib(med("rss")), mib(max), mib(med("anon")), mib(med("file")), mib(med("pss"))];
}

await using dir = await tempDir("bench-memory");
const rows: string[][] = [["MiB", "RSS median", "RSS max", "own (anon)", "executable (file)", "PSS"]];

// Floor: a Deno process that loaded nothing, idle.
const idle = `${dir.path}/idle.js`;
await Deno.writeTextFile(idle, "setTimeout(() => {}, 60_000);\n");
const floor = new Deno.Command(Deno.execPath(), { args: ["run", "--quiet", idle], stdout: "null" }).spawn();
await new Promise((r) => setTimeout(r, 3000));
rows.push(row("floor: idle deno process", (await watch([floor.pid], 3))[0]!));
floor.kill();
await floor.status;

const solo = await new Member(`${dir.path}/solo`, "solo", {}, [], { debug: false }).start();
try {
  await new Promise((r) => setTimeout(r, REST_S * 1000));
  rows.push(row("standalone member", (await watch([solo.process!.pid]))[0]!));
} finally {
  await solo.stop();
}

const members = await formCluster(dir.path, ADDR, { env: {} });
try {
  await new Promise((r) => setTimeout(r, REST_S * 1000));
  const all = await watch(members.map((m) => m.process!.pid));
  members.forEach((m, i) => rows.push(row(`cluster member ${m.name}`, all[i]!)));
} finally {
  for (const m of members) await m.stop();
}
console.log(`members at rest, ${REST_S} s after start or forming, sampled each second for 10 s:`);
printRows(rows);
