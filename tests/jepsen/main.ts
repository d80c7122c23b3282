/**
 * `deno task jepsen`: the fault harness (README.md beside this file).
 *
 *   deno task jepsen [--time SECONDS] [--nemesis all|kill|pause|partition|disk|clock|membership|none]
 *                    [--members 3|5] [--pace normal|fast] [--seed N] [--dir DIR]
 *   deno task jepsen --check FILE      check a saved history again
 *
 * Exits 0 only when the checks find no anomaly and no lost write; the last line is always
 * `jepsen: F faults, O ops (A ok, B failed, C ambiguous), X anomalies, Y lost`.
 */
import { parseArgs } from "node:util";
import { checkHistory, describe } from "./checker.ts";
import { readHistory } from "./history.ts";
import { NEMESES, parseNemesis } from "./nemesis.ts";
import { runJepsen } from "./run.ts";

function usage(msg: string): never {
  console.error(`Error: ${msg}`);
  console.error(
    "Usage: deno task jepsen [--time SECONDS] [--nemesis all|none|" + NEMESES.join("|") +
      "] [--members 3|5] [--pace normal|fast] [--seed N] [--dir DIR] | --check FILE",
  );
  Deno.exit(2);
}

async function main(): Promise<number> {
  let a;
  try {
    a = parseArgs({
      args: Deno.args,
      options: {
        time: { type: "string", default: "60" },
        nemesis: { type: "string", default: "all" },
        members: { type: "string", default: "3" },
        pace: { type: "string", default: "normal" },
        seed: { type: "string" },
        dir: { type: "string" },
        check: { type: "string" },
      },
      strict: true,
    }).values;
  } catch (e) {
    usage((e as Error).message);
  }
  if (a.check) {
    const report = checkHistory(await readHistory(a.check));
    for (const l of describe(report, a.check)) console.log(l);
    return report.anomalies.length + report.lost.length === 0 ? 0 : 1;
  }
  const time = Number(a.time);
  if (!Number.isFinite(time) || time <= 0) usage(`Invalid --time "${a.time}": a number of seconds above 0`);
  const members = Number(a.members);
  if (members !== 3 && members !== 5) usage(`Invalid --members "${a.members}": 3 or 5`);
  const pace = a.pace;
  if (pace !== "normal" && pace !== "fast") usage(`Invalid --pace "${pace}": normal or fast`);
  let kinds;
  try {
    kinds = a.nemesis === "none" ? [] : parseNemesis(a.nemesis);
  } catch (e) {
    usage((e as Error).message);
  }
  const seed = a.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(a.seed);
  if (!Number.isSafeInteger(seed)) usage(`Invalid --seed "${a.seed}": an integer`);
  if (Deno.uid() !== 0) usage("The harness makes network namespaces and mounts: run it as root");
  const dir = a.dir ?? await Deno.makeTempDir({ prefix: "shoal-jepsen-" });
  await Deno.mkdir(dir, { recursive: true });
  const log = (l: string) => console.log(`jepsen: ${l}`);
  log(`seed ${seed}, files in ${dir}`);
  const path = await runJepsen({ time, nemesis: a.nemesis, kinds, pace, members, seed, dir }, log);
  const report = checkHistory(await readHistory(path));
  for (const l of describe(report, path)) console.log(l);
  const bad = report.anomalies.length + report.lost.length > 0;
  if (!bad) {
    // Keep the history (small) and drop the members' state and logs (large) of a clean run.
    for await (const e of Deno.readDir(dir)) {
      if (e.name !== "history.jsonl") {
        await Deno.remove(`${dir}/${e.name}`, { recursive: true }).catch(() => {});
      }
    }
  }
  return bad ? 1 : 0;
}

Deno.exit(await main());
