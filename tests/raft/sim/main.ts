/**
 * `deno task sim`: runs the deterministic Raft simulator over many seeds.
 *
 *   deno task sim --seeds N [--seed S] [--nodes K] [--steps M] [--bug NAME] [--workers W]
 *   deno task sim --ci --seconds T      seeds from a random base until T seconds have passed
 *
 * Seeds S, S+1, … run spread over worker threads; it stops at the first failing seed, prints
 * the command that replays it and the events before the failure, and exits non-zero. The last
 * line starts with "sim:" and says how many seeds ran, how fast, and from which base seed.
 * Wall-clock time is read here only, for the budget and the rate; the runs never see it.
 * @module
 */
import { BUG_NAMES } from "../../../lib/raft/types.ts";
import type { BugName, SimResult, SimStats } from "./sim.ts";
import type { ToWorker } from "./worker.ts";

interface Args {
  seeds: number;
  seed?: number;
  nodes: number;
  steps: number;
  bug?: BugName;
  ci: boolean;
  seconds: number;
  workers: number;
  quiet: boolean;
  contract: boolean;
}

const USAGE =
  "usage: deno task sim [--seeds N] [--seed S] [--nodes K] [--steps M] [--bug NAME] [--workers W]\n" +
  "                     [--ci --seconds T] [--end-to-end-only] [--quiet]";

function parse(argv: string[]): Args {
  const a: Args = {
    seeds: 100,
    nodes: 5,
    steps: 3000,
    ci: false,
    seconds: 150,
    workers: Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 8)),
    quiet: false,
    contract: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    const int = () => {
      const v = value();
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 0) {
        throw new Error(`${flag} wants a non-negative integer, not "${v}"`);
      }
      return n;
    };
    switch (flag) {
      case "--seeds":
        a.seeds = int();
        break;
      case "--seed":
        a.seed = int();
        break;
      case "--nodes":
        a.nodes = int();
        if (a.nodes < 1 || a.nodes > 9) throw new Error("--nodes must be between 1 and 9");
        break;
      case "--steps":
        a.steps = int();
        break;
      case "--bug": {
        const b = value();
        if (!(b in BUG_NAMES)) {
          throw new Error(`unknown bug "${b}"; known: ${Object.keys(BUG_NAMES).join(", ")}`);
        }
        a.bug = b as BugName;
        break;
      }
      case "--ci":
        a.ci = true;
        break;
      case "--seconds":
        a.seconds = int();
        break;
      case "--workers":
        a.workers = Math.max(1, int());
        break;
      case "--end-to-end-only":
        a.contract = false;
        break;
      case "--quiet":
        a.quiet = true;
        break;
      case "-h":
      case "--help":
        console.log(USAGE);
        Deno.exit(0);
        break;
      default:
        throw new Error(`unknown argument "${flag}"\n${USAGE}`);
    }
  }
  return a;
}

function replayCommand(a: Args, seed: number): string {
  return `deno task sim --seed ${seed} --seeds 1 --nodes ${a.nodes} --steps ${a.steps}` +
    (a.bug ? ` --bug ${a.bug}` : "") + (a.contract ? "" : " --end-to-end-only");
}

function report(a: Args, r: SimResult): void {
  console.log(`FAIL seed ${r.seed}: ${r.error}`);
  for (const line of r.detail ?? []) console.log(`    ${line}`);
  console.log(`  replay: ${replayCommand(a, r.seed)}`);
  console.log(`  last ${r.trace.length} events (virtual ms):`);
  for (const line of r.trace) console.log(`    ${line}`);
}

async function main(): Promise<number> {
  let a: Args;
  try {
    a = parse(Deno.args);
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  const base = a.seed ?? (a.ci ? crypto.getRandomValues(new Uint32Array(1))[0] : 1);
  const limit = a.ci && a.seed === undefined && !Deno.args.includes("--seeds") ? Infinity : a.seeds;
  const started = performance.now();
  const deadline = a.ci ? started + a.seconds * 1000 : Infinity;
  if (a.ci) console.log(`sim: base seed ${base} (replay any seed with --seed)`);

  let next = 0;
  let passed = 0;
  let failed: SimResult | undefined;
  const totals: Partial<SimStats> = {};
  const workers = Math.max(1, Math.min(a.workers, limit));
  await new Promise<void>((resolve) => {
    let live = workers;
    for (let w = 0; w < workers; w++) {
      const worker = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
      const give = () => {
        if (failed || next >= limit || performance.now() >= deadline) {
          worker.postMessage({ stop: true } satisfies ToWorker);
          if (--live === 0) resolve();
          return;
        }
        const job: ToWorker = {
          seed: base! + next++,
          nodes: a.nodes,
          steps: a.steps,
          bug: a.bug,
          contract: a.contract,
        };
        worker.postMessage(job);
      };
      worker.onmessage = (e: MessageEvent<SimResult | { ready: true }>) => {
        const r = e.data;
        if ("ready" in r) return give();
        for (const [k, v] of Object.entries(r.stats) as [keyof SimStats, number][]) {
          totals[k] = k === "maxTerm" ? Math.max(totals[k] ?? 0, v) : (totals[k] ?? 0) + v;
        }
        if (r.ok) passed++;
        else if (!failed) {
          failed = r;
          report(a, r);
        }
        give();
      };
      worker.onerror = (e) => {
        console.log(`FAIL: worker crashed: ${e.message}`);
        e.preventDefault();
        failed ??= { seed: -1, ok: false, trace: [], stats: {} as SimStats };
        if (--live === 0) resolve();
      };
    }
  });

  const secs = (performance.now() - started) / 1000;
  const ran = passed + (failed ? 1 : 0);
  const t = totals;
  if (!a.quiet) {
    console.log(
      `sim: totals: ${t.events ?? 0} events, ${Math.round((t.virtualMs ?? 0) / 1000)} s simulated, ` +
        `${t.leaders ?? 0} leaders (highest term ${t.maxTerm ?? 0}), ${t.crashes ?? 0} crashes, ` +
        `${t.confChanges ?? 0} conf changes applied, ${t.transfers ?? 0} transfers, ` +
        `${t.snapshotsTaken ?? 0} snapshots taken, ${t.snapshotsInstalled ?? 0} installed, ` +
        `${t.ops ?? 0} client ops (${t.acked ?? 0} writes acked, ${t.reads ?? 0} reads, ` +
        `${t.pending ?? 0} ambiguous)` + (t.oldTermCommits ? `, ${t.oldTermCommits} older-term commits` : ""),
    );
  }
  console.log(
    `sim: ${ran} seeds, ${passed} passed, ${failed ? 1 : 0} failed, ${(ran / secs).toFixed(1)} seeds/s, ` +
      `base seed ${base}, nodes ${a.nodes}, steps ${a.steps}${a.bug ? `, bug ${a.bug}` : ""}, ${
        secs.toFixed(1)
      } s`,
  );
  if (failed) {
    console.log(
      `sim: FAILED seed ${failed.seed}: ${failed.check ?? "error"}; replay: ${replayCommand(a, failed.seed)}`,
    );
  }
  return failed ? 1 : 0;
}

Deno.exit(await main());
