/**
 * The Raft simulator's seeds per CPU-second, beside the same figure of a reference commit measured in
 * the same run: by default d9021e7, the last simulator with its own copy of the Ready loop (issue 10
 * asked that driving the real Driver cost it no more than a quarter of that rate). Rounds alternate
 * between the two trees (reference, current, reference, …) so that load on a shared machine falls on
 * both alike; each round is one process running `tests/raft/sim/main.ts --seeds N --seed 1 --workers 1`,
 * and its CPU-seconds (user + system, the process and its worker thread) come from the shell's `times`.
 * The reference is checked out in a temporary git worktree, removed at the end.
 *
 *   deno run -A bench/sim_speed.ts [--rounds 5] [--seeds 600] [--against d9021e7]
 *
 * Prints per tree the median and worst seeds/CPU-s, and the median of the rounds' ratios (current over
 * reference; 0.75 is the quarter the issue allows).
 * @module
 */
import { percentiles } from "./floors.ts";

function arg(name: string, fallback: string): string {
  const at = Deno.args.indexOf(`--${name}`);
  return at >= 0 && Deno.args[at + 1] !== undefined ? Deno.args[at + 1]! : fallback;
}

const rounds = Number(arg("rounds", "5"));
const seeds = Number(arg("seeds", "600"));
const against = arg("against", "d9021e7");
const root = new URL("../", import.meta.url).pathname;

async function git(...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", { args: ["-C", root, ...args], stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`git ${args.join(" ")}: ${dec.decode(out.stderr).trim()}`);
  return dec.decode(out.stdout).trim();
}

/** CPU-seconds of one simulator run in `tree` (the shell's `times`: its children's user and system). */
async function cpuSeconds(tree: string): Promise<number> {
  const script = `"$@" >/dev/null 2>&1 || exit 3; times`;
  const sim = `${tree}/tests/raft/sim/main.ts`;
  const args = ["-c", script, "sh", Deno.execPath(), "run", "-A", sim, "--seeds", String(seeds)];
  args.push("--seed", "1", "--workers", "1");
  const out = await new Deno.Command("bash", { args, cwd: tree, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`the simulator failed in ${tree} (exit ${out.code})`);
  // times: the shell's own user/system, then its children's, e.g. "0m2.610s 0m0.240s".
  const line = new TextDecoder().decode(out.stdout).trim().split("\n")[1] ?? "";
  const secs = [...line.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (secs.length !== 2) throw new Error(`unexpected output of times: "${line}"`);
  return secs[0]! + secs[1]!;
}

let commit: string;
try {
  commit = await git("rev-parse", "--verify", `${against}^{commit}`);
} catch (e) {
  console.error(
    `Error: reference commit ${against} is not in this clone (${(e as Error).message}); ` +
      `fetch the full history (git fetch --unshallow) or pass --against COMMIT`,
  );
  Deno.exit(1);
}
const refTree = await Deno.makeTempDir({ prefix: "sim-speed-ref-" });
await git("worktree", "add", "--detach", refTree, commit);
const rates = { reference: [] as number[], current: [] as number[] };
const ratios: number[] = [];
try {
  console.log(`simulator: ${seeds} seeds from seed 1, one worker, ${rounds} rounds alternating`);
  console.log(`reference ${against} (${commit.slice(0, 12)}) in ${refTree}; current ${root}`);
  for (let r = 1; r <= rounds; r++) {
    const ref = seeds / await cpuSeconds(refTree);
    const cur = seeds / await cpuSeconds(root);
    rates.reference.push(ref);
    rates.current.push(cur);
    ratios.push(cur / ref);
    console.log(
      `  round ${r}: reference ${ref.toFixed(0)} seeds/CPU-s, current ${cur.toFixed(0)}, ratio ${
        (cur / ref).toFixed(2)
      }`,
    );
  }
} finally {
  await git("worktree", "remove", "--force", refTree).catch((e) => console.error(String(e)));
}
const row = (name: string, v: number[]) => {
  const s = percentiles(v);
  return `${name.padEnd(10)} median ${s.median.toFixed(0).padStart(4)} seeds/CPU-s, worst ${
    s.min.toFixed(0)
  }`;
};
console.log(row("reference", rates.reference));
console.log(row("current", rates.current));
const q = percentiles(ratios);
console.log(
  `ratio      median ${q.median.toFixed(2)}, worst ${
    q.min.toFixed(2)
  } (current over reference; goal >= 0.75)`,
);
