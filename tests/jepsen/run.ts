/**
 * One run: build the fault library, form the cluster in its namespaces, start the workloads
 * and the nemesis, stop them after `time` seconds, heal everything, take the final reads, and
 * leave nothing behind (members, mounts, namespaces) whatever happened.
 */
import { Rng } from "../../lib/util/rng.ts";
import { cmd, uniquePrefix } from "../helpers/netns.ts";
import { waitFor } from "../helpers/member.ts";
import { JepsenCluster, type Slot } from "./cluster.ts";
import { HistoryWriter } from "./history.ts";
import { type NemesisKind, type Pace, runNemesis } from "./nemesis.ts";
import {
  BANK_ACCOUNTS,
  BANK_INITIAL,
  bankClients,
  bankRead,
  bankSetup,
  closeConnections,
  dropConnections,
  registerClients,
  setClients,
  setRead,
  type Target,
} from "./workloads.ts";

/** A run's parameters. */
export interface RunOptions {
  time: number;
  nemesis: string;
  kinds: NemesisKind[];
  /** How long faults are held (nemesis.ts PACES). */
  pace?: Pace;
  members: number;
  seed: number;
  /** Where the run's files go (kept: the history, and the members' logs on failure). */
  dir: string;
}

const SHIM_SOURCE = new URL("./faults_shim.c", import.meta.url).pathname;

/** Compiles the fault library; null (with why) when there is no C compiler. */
async function buildShim(dir: string, log: (l: string) => void): Promise<string | null> {
  const out = `${dir}/faults_shim.so`;
  const r = await cmd("cc", ["-shared", "-fPIC", "-O2", "-o", out, SHIM_SOURCE, "-ldl"], { check: false })
    .catch(
      (e) => ({ code: 1, stderr: String(e), stdout: "" }),
    );
  if (r.code !== 0) {
    log(
      `no fault library (cc failed: ${
        r.stderr.trim().split("\n")[0]
      }): clock and slow-disk faults do nothing`,
    );
    return null;
  }
  return out;
}

/** Runs the harness; returns the history file's path. */
export async function runJepsen(o: RunOptions, log: (l: string) => void): Promise<string> {
  const t0 = performance.now();
  const now = () => Math.round((performance.now() - t0) * 10) / 10;
  const history = new HistoryWriter(`${o.dir}/history.jsonl`);
  history.add({
    type: "meta",
    seed: o.seed,
    time: o.time,
    nemesis: o.nemesis,
    pace: o.pace ?? "normal",
    members: o.members,
    started: new Date().toISOString(),
    bankAccounts: BANK_ACCOUNTS,
    bankTotal: BANK_ACCOUNTS * BANK_INITIAL,
  });
  const note = (text: string) => {
    log(text);
    history.add({ type: "note", at: now(), text });
  };
  const shim = await buildShim(o.dir, log);
  const cluster = new JepsenCluster({
    dir: o.dir,
    members: o.members,
    prefix: uniquePrefix("sj"),
    shim,
    log,
    onCrash: (name, how) => note(`member ${name} exited by itself (${how})`),
  });
  let stop = false;
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    stop = true;
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    log(`forming ${o.members} members in network namespaces ${cluster.nets.prefix}-*`);
    await cluster.create();
    const target = (s: Slot): Target => ({ name: s.member!.name, socket: s.member!.socket });
    await waitFor(
      "the bank's table",
      async () => {
        await bankSetup(target(cluster.occupied[0]!));
        return true;
      },
      30_000,
      500,
    );
    log(`running ${o.time} s: nemesis ${o.nemesis}, seed ${o.seed}`);
    const rng = new Rng(o.seed);
    const clientRng = new Rng(o.seed ^ 0x5bd1e995);
    const ctx = {
      target: (i: number) => {
        const live = cluster.serving;
        if (live.length === 0) return null;
        return target(live[i % live.length]!);
      },
      now,
      record: (op: Parameters<HistoryWriter["add"]>[0]) => history.add(op),
      stopped: () => stop,
      rng: clientRng,
    };
    const n = o.members;
    const sockets = () => cluster.occupied.map((s) => s.member!.socket);
    let known = new Set(sockets());
    const workloads = Promise.all([
      registerClients(ctx, n, 0),
      setClients(ctx, n, 100),
      bankClients(ctx, n, 200),
    ]);
    const sampler = sampleResources(cluster, history, now, () => stop);
    const nemesis = o.kinds.length === 0 ? Promise.resolve() : runNemesis(
      {
        cluster,
        rng,
        now,
        stopped: () => stop,
        record: (f) => history.add(f),
        log: (l) => log(`[${(now() / 1000).toFixed(1)}] ${l}`),
        note,
        membersChanged: () => {
          // Connections to a member that was restarted or removed are dead: start new ones.
          for (const s of known) dropConnections(s);
          known = new Set(sockets());
        },
      },
      o.kinds,
      o.pace,
    );
    const deadline = Date.now() + o.time * 1000;
    while (!stop && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    stop = true;
    await nemesis;
    await workloads;
    await sampler;
    if (interrupted) throw new Error("Interrupted");
    log("healing every fault and taking the final reads");
    await cluster.healAll();
    await cluster.waitHealthy().catch((e) => note(`no leader after healing: ${e.message}`));
    const finalTarget = () => {
      const s = cluster.occupied.find((x) => !x.down && !x.paused);
      if (!s) throw new Error("no member alive");
      return target(s);
    };
    const set = await waitFor("the final set read", () => setRead(finalTarget()), 60_000, 500).catch(() =>
      null
    );
    const bank = await waitFor("the final bank read", () => bankRead(finalTarget()), 60_000, 500).catch(() =>
      null
    );
    history.add({ type: "final", set, bank, at: now() });
  } finally {
    stop = true;
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    closeConnections();
    history.close();
    await cluster.dispose();
  }
  return history.path;
}

/** Every 5 s: each member's resident memory and open file count. */
async function sampleResources(
  cluster: JepsenCluster,
  history: HistoryWriter,
  now: () => number,
  stopped: () => boolean,
): Promise<void> {
  while (!stopped()) {
    for (const s of cluster.occupied) {
      const pid = s.member?.process?.pid;
      if (pid === undefined || s.down) continue;
      try {
        const status = await Deno.readTextFile(`/proc/${pid}/status`);
        const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
        let fds = 0;
        for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) fds++;
        history.add({ type: "sample", member: s.member!.name, pid, at: now(), rssKb, fds });
      } catch { /* gone meanwhile */ }
    }
    for (let i = 0; i < 25 && !stopped(); i++) await new Promise((r) => setTimeout(r, 200));
  }
}
