/**
 * The commands of the golden interaction scripts (tests/raft/testdata/*.txt), in the style of
 * etcd raft's rafttest.InteractionEnv: each command acts on an in-memory cluster and returns
 * the lines it prints (Readys handled, messages delivered, logs, states).
 * @module
 */
import { TestNet } from "./testing.ts";
import {
  type ConfChange,
  type ConfState,
  describeEntry,
  describeMessage,
  describeReady,
  describeStatus,
  type Message,
  type NodeId,
  roleOf,
} from "../../lib/raft/mod.ts";
import type { ConfigOptions } from "./testing.ts";

export interface Command {
  name: string;
  /** Positional arguments. */
  args: string[];
  /** key=value arguments; `(1,2,3)` lists are kept as text. */
  kv: Map<string, string>;
}

export function parseCommand(line: string): Command {
  const [name = "", ...rest] = line.trim().split(/\s+/);
  const args: string[] = [], kv = new Map<string, string>();
  for (const w of rest) {
    const eq = w.indexOf("=");
    if (eq > 0) kv.set(w.slice(0, eq), w.slice(eq + 1));
    else args.push(w);
  }
  return { name, args, kv };
}

function ids(list: string | undefined): NodeId[] {
  if (!list) return [];
  return list.replace(/[()]/g, "").split(",").filter((s) => s !== "").map(Number);
}

const indent = (text: string, by = "  ") => text.split("\n").filter((l) => l !== "").map((l) => by + l);

export class InteractionEnv {
  net = new TestNet();
  private out: string[] = [];
  private nextId = 1;

  constructor() {
    this.net.onReady = (id, rd) => {
      this.out.push(`> ${id} handling Ready`);
      const d = describeReady(rd);
      this.out.push(...indent(d === "" ? "(empty)" : d));
    };
    this.net.onDeliver = (m, dropped) => {
      this.out.push(`  ${dropped ? "dropped " : ""}${describeMessage(m)}`);
    };
  }

  /** Runs one command; returns its output ("ok" when it prints nothing). */
  handle(c: Command): string {
    this.out = [];
    const fn = (this.commands as Record<string, (c: Command) => void>)[c.name];
    if (!fn) throw new Error(`unknown command ${JSON.stringify(c.name)}`);
    fn.call(this, c);
    return this.out.length > 0 ? this.out.join("\n") : "ok";
  }

  private node(arg: string | undefined): NodeId {
    const id = Number(arg);
    if (!this.net.members.has(id)) throw new Error(`no member ${arg}`);
    return id;
  }

  private targets(c: Command): NodeId[] {
    return c.args.length > 0 ? c.args.map((a) => this.node(a)) : [...this.net.members.keys()];
  }

  private processReady(ids: NodeId[]): boolean {
    let any = false;
    for (const id of ids) any = this.net.processReady(id) || any;
    return any;
  }

  private deliverTo(ids: NodeId[]): boolean {
    let any = false;
    for (const id of ids) {
      if (!this.net.queue.some((m) => m.to === id)) continue;
      this.out.push(`> ${id} receiving messages`);
      this.net.deliver((m) => m.to === id);
      any = true;
    }
    return any;
  }

  private options(c: Command): ConfigOptions {
    const o: ConfigOptions = {};
    const bool = (k: string) => c.kv.get(k) === "true";
    if (c.kv.has("prevote")) o.preVote = bool("prevote");
    if (c.kv.has("checkquorum")) o.checkQuorum = bool("checkquorum");
    if (c.kv.has("max-size")) o.maxSizePerMsg = Number(c.kv.get("max-size"));
    if (c.kv.has("max-inflight")) o.maxInflightMsgs = Number(c.kv.get("max-inflight"));
    if (c.kv.has("max-inflight-bytes")) o.maxInflightBytes = Number(c.kv.get("max-inflight-bytes"));
    if (c.kv.has("election")) o.electionTick = Number(c.kv.get("election"));
    if (c.kv.has("heartbeat")) o.heartbeatTick = Number(c.kv.get("heartbeat"));
    for (
      const [k, name] of [
        ["bug-figure8", "figure8"],
        ["bug-vote-without-log-check", "voteWithoutLogCheck"],
        ["bug-vote-not-persisted", "voteNotPersisted"],
        ["bug-apply-before-commit", "applyBeforeCommit"],
        ["bug-stale-read", "staleRead"],
      ] as const
    ) if (bool(k)) o.bugs = { ...o.bugs, [name]: true };
    return o;
  }

  private commands = {
    /** add-nodes N voters=(..) [standbys=(..)] [spares=(..)] [options]: empty lists make joiners. */
    "add-nodes"(this: InteractionEnv, c: Command) {
      const n = Number(c.args[0] ?? 1);
      const conf: ConfState = {
        voters: ids(c.kv.get("voters")),
        standbys: ids(c.kv.get("standbys")),
        spares: ids(c.kv.get("spares")),
      };
      const opts = this.options(c);
      for (let i = 0; i < n; i++) {
        const id = this.nextId++;
        this.net.add(id, conf.voters.length > 0 ? conf : undefined, opts);
      }
    },
    "campaign"(this: InteractionEnv, c: Command) {
      this.net.get(this.node(c.args[0])).rn.campaign();
    },
    /** tick N [count] */
    "tick"(this: InteractionEnv, c: Command) {
      this.net.tick(this.node(c.args[0]), Number(c.args[1] ?? 1));
    },
    /** tick-all [count]: ticks every member, without handling Readys. */
    "tick-all"(this: InteractionEnv, c: Command) {
      for (let i = 0; i < Number(c.args[0] ?? 1); i++) {
        for (const id of this.net.members.keys()) this.net.tick(id);
      }
    },
    "process-ready"(this: InteractionEnv, c: Command) {
      this.processReady(this.targets(c));
    },
    "deliver-msgs"(this: InteractionEnv, c: Command) {
      this.deliverTo(this.targets(c));
    },
    /** drop-msgs [N...]: discards messages queued for these members. */
    "drop-msgs"(this: InteractionEnv, c: Command) {
      const to = new Set(this.targets(c));
      for (const m of this.net.queue) if (to.has(m.to)) this.out.push(`  dropped ${describeMessage(m)}`);
      this.net.queue = this.net.queue.filter((m) => !to.has(m.to));
    },
    "stabilize"(this: InteractionEnv, c: Command) {
      const ids = this.targets(c);
      for (let i = 0; i < 1000; i++) {
        const a = this.processReady(ids);
        const b = this.deliverTo(ids);
        if (!a && !b) return;
      }
      throw new Error("stabilize: no fixed point after 1000 rounds");
    },
    /** propose N data */
    "propose"(this: InteractionEnv, c: Command) {
      const r = this.net.get(this.node(c.args[0])).rn.propose(c.args.slice(1).join(" "));
      this.out.push(
        r.ok ? `ok index=${r.index} term=${r.term}` : `refused: ${r.reason} (leader ${r.leader})`,
      );
    },
    /** propose-conf-change N add-voter|add-standby|add-spare|remove ID */
    "propose-conf-change"(this: InteractionEnv, c: Command) {
      const cc = { type: c.args[1], id: Number(c.args[2]) } as ConfChange;
      const r = this.net.get(this.node(c.args[0])).rn.proposeConfChange(cc);
      this.out.push(
        r.ok ? `ok index=${r.index} term=${r.term}` : `refused: ${r.reason} (leader ${r.leader})`,
      );
    },
    /** transfer-leader FROM TO */
    "transfer-leader"(this: InteractionEnv, c: Command) {
      this.net.get(this.node(c.args[0])).rn.transferLeader(Number(c.args[1]));
    },
    /** read-index N ctx */
    "read-index"(this: InteractionEnv, c: Command) {
      this.net.get(this.node(c.args[0])).rn.readIndex(c.args[1]!);
    },
    /** read-states N: the reads answered to N so far. */
    "read-states"(this: InteractionEnv, c: Command) {
      for (const r of this.net.get(this.node(c.args[0])).readStates) {
        this.out.push(`Index:${r.index} Ctx:"${r.ctx}"`);
      }
    },
    "report-unreachable"(this: InteractionEnv, c: Command) {
      this.net.get(this.node(c.args[0])).rn.reportUnreachable(Number(c.args[1]));
    },
    /** partition A B ...: cuts these members off from the rest, both ways. */
    "partition"(this: InteractionEnv, c: Command) {
      this.net.isolate(...c.args.map(Number));
    },
    /** cut FROM TO: drops messages one way only. */
    "cut"(this: InteractionEnv, c: Command) {
      this.net.cutOneWay(Number(c.args[0]), Number(c.args[1]));
    },
    "heal"(this: InteractionEnv) {
      this.net.heal();
    },
    /** restart N: crash (losing messages in flight) and restart from storage. */
    "restart"(this: InteractionEnv, c: Command) {
      this.net.restart(this.node(c.args[0]));
    },
    /** compact N: snapshot the state machine at its applied index and compact the log to it. */
    "compact"(this: InteractionEnv, c: Command) {
      this.net.compact(this.node(c.args[0]));
      const s = this.net.get(this.node(c.args[0])).storage;
      this.out.push(`log now ${s.firstIndex()}..${s.lastIndex()}, snapshot at ${s.snapshot().meta.index}`);
    },
    "raft-log"(this: InteractionEnv, c: Command) {
      const s = this.net.get(this.node(c.args[0])).storage;
      if (s.lastIndex() < s.firstIndex()) {
        this.out.push(`log is empty: first index=${s.firstIndex()}, last index=${s.lastIndex()}`);
      }
      for (const e of s.entries(s.firstIndex(), s.lastIndex() + 1)) this.out.push(describeEntry(e));
    },
    "raft-state"(this: InteractionEnv) {
      for (const m of this.net.members.values()) {
        const s = m.rn.status();
        const conf = m.rn.confState();
        const role = roleOf(conf, m.id) ?? "none";
        this.out.push(`${m.id}: ${s.role} (${role}) Term:${s.term} Lead:${s.lead}`);
      }
    },
    "status"(this: InteractionEnv, c: Command) {
      this.out.push(describeStatus(this.net.get(this.node(c.args[0])).rn.status()));
    },
    /** applied N: the data of the normal entries N's state machine applied. */
    "applied"(this: InteractionEnv, c: Command) {
      const m = this.net.get(this.node(c.args[0]));
      this.out.push(
        `applied index ${m.appliedIndex}: [${m.applied.map((d) => JSON.stringify(d)).join(" ")}]`,
      );
    },
  };
}

/** A parsed script: comments and commands, each with its expected output. */
export interface Block {
  /** Comment and blank lines before the command, kept as written. */
  before: string[];
  command: string;
  expected: string;
  line: number;
}

export function parseScript(text: string): { blocks: Block[]; trailer: string[] } {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  let before: string[] = [];
  let i = 0;
  for (let l = lines[i]; l !== undefined; l = lines[i]) {
    if (l.trim() === "" || l.startsWith("#")) {
      before.push(l);
      i++;
      continue;
    }
    const line = i + 1;
    const command = l;
    i++;
    if (lines[i] !== "----") throw new Error(`line ${line + 1}: expected ---- after the command`);
    i++;
    const out: string[] = [];
    while (i < lines.length && lines[i] !== "") out.push(lines[i++]!);
    blocks.push({ before, command, expected: out.join("\n"), line });
    before = [];
  }
  return { blocks, trailer: before };
}

export function renderScript(
  blocks: { before: string[]; command: string; expected: string }[],
  trailer: string[],
): string {
  const out: string[] = [];
  for (const b of blocks) out.push(...b.before, b.command, "----", b.expected);
  out.push(...trailer);
  let text = out.join("\n");
  if (!text.endsWith("\n")) text += "\n";
  return text;
}

export type { Message };
