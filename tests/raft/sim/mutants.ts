/**
 * Mutation testing of the simulator: copies lib/raft to a temporary tree, breaks it in one
 * small, realistic way (beyond the planted --bug switches), and reports whether the simulator
 * notices within `--seeds` seeds, with every check and with the end-to-end checks alone.
 *
 *   deno run -A tests/raft/sim/mutants.ts [--seeds 500] [NAME...]
 *
 * A mutant whose text no longer appears in lib/raft is reported as stale, not as caught;
 * mutants_test.ts fails as soon as one is (lib/raft changed under it: rewrite its text so that it
 * plants the same bug in today's code).
 * @module
 */

export interface Mutant {
  name: string;
  file: string;
  from: string;
  to: string;
}

export const MUTANTS: Mutant[] = [
  {
    name: "up-to-date-off-by-one",
    file: "log.ts",
    from: "return term > lt || (term === lt && lastIndex >= this.lastIndex());",
    to: "return term > lt || (term === lt && lastIndex + 1 >= this.lastIndex());",
  },
  {
    name: "heartbeat-commit-unclamped",
    file: "raft.ts",
    // bcastHeartbeat's (the spares' own heartbeat, which ends in `ctx: ""`, keeps its clamp)
    from: "commit: Math.min(pr.match, this.log.committed), ctx });",
    to: "commit: this.log.committed, ctx });",
  },
  {
    name: "follower-commit-unmatched",
    file: "log.ts",
    from: "this.commitTo(Math.min(committed, lastNew));",
    to: "this.commitTo(committed);",
  },
  {
    name: "double-vote",
    file: "raft.ts",
    from: "const canVote = this.vote === m.from || (this.vote === NONE && this.lead === NONE) ||",
    to: "const canVote = true ||",
  },
  {
    name: "vote-reset-same-term",
    file: "raft.ts",
    from: "    if (this.term !== term) {\n      this.term = term;\n      this.vote = NONE;\n    }",
    to: "    this.term = term;\n    this.vote = NONE;",
  },
  {
    name: "append-without-prev-check",
    file: "log.ts",
    from: "if (!this.matchTerm(index, logTerm)) return undefined;\n    let k = 0;",
    to: "let k = 0;",
  },
  {
    name: "no-truncate-on-conflict",
    file: "log.ts",
    from: "if (ci <= this.committed) return undefined;\n      this.append(ents.slice(ci - index - 1));",
    to:
      "if (ci <= this.committed) return undefined;\n      if (ci > this.lastIndex()) this.append(ents.slice(ci - index - 1));",
  },
  {
    name: "standbys-count-for-commit",
    file: "raft.ts",
    from: "const mci = committedIndex(this.conf.voters,",
    to: "const mci = committedIndex([...this.conf.voters, ...this.conf.standbys],",
  },
  {
    name: "read-before-term-commit",
    file: "read_index.ts",
    from: "if (!r.committedEntryInCurrentTerm()) {\n    r.pendingReadIndex",
    to: "if (false) {\n    r.pendingReadIndex",
  },
  {
    name: "read-one-ack",
    file: "roles.ts",
    from: 'if (!acks || voteResult(r.conf.voters, acks) !== "won") return;',
    to: "if (!acks) return;",
  },
  {
    name: "second-conf-change",
    file: "raft.ts",
    from: "if (this.pendingConfIndex > this.log.applied) {",
    to: "if (false) {",
  },
  {
    name: "snapshot-keeps-old-conf",
    file: "raft.ts",
    from: "this.conf = cloneConf(s.meta.conf);",
    to: "",
  },
];

const root = new URL("../../../", import.meta.url).pathname;

/** How many times a mutant's text appears in its file (it applies only when exactly once). */
export async function occurrences(m: Mutant): Promise<number> {
  const text = await Deno.readTextFile(`${root}lib/raft/${m.file}`);
  return text.split(m.from).length - 1;
}

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isFile) await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
    else if (e.isDirectory) await copyTree(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

async function run(dir: string, seeds: number, endToEnd: boolean): Promise<string> {
  const args = ["run", "-A", `${dir}/tests/raft/sim/main.ts`, "--seeds", String(seeds), "--quiet"];
  if (endToEnd) args.push("--end-to-end-only");
  const out = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  const fail = /^FAIL seed (\d+): ([a-z -]+):/m.exec(text);
  if (out.code === 0) return `survived ${seeds} seeds`;
  return fail ? `${fail[2]} at seed ${fail[1]}` : `failed: ${text.trim().split("\n").pop()}`;
}

if (import.meta.main) {
  const argv = [...Deno.args];
  let seeds = 500;
  const at = argv.indexOf("--seeds");
  if (at >= 0) seeds = Number(argv.splice(at, 2)[1]);
  const chosen = argv.length ? MUTANTS.filter((m) => argv.includes(m.name)) : MUTANTS;
  for (const m of chosen) {
    if (await occurrences(m) !== 1) {
      console.log(`${m.name.padEnd(28)} stale: its text is no longer in lib/raft/${m.file} once`);
      continue;
    }
    const dir = await Deno.makeTempDir({ prefix: `mutant-${m.name}-` });
    try {
      // The simulator runs the real driver (lib/driver and what it imports): copy lib whole.
      await copyTree(`${root}lib`, `${dir}/lib`);
      await copyTree(`${root}tests/raft/sim`, `${dir}/tests/raft/sim`);
      for (const f of ["deno.json", "deno.lock"]) await Deno.copyFile(`${root}${f}`, `${dir}/${f}`);
      const path = `${dir}/lib/raft/${m.file}`;
      await Deno.writeTextFile(path, (await Deno.readTextFile(path)).replace(m.from, m.to));
      const all = await run(dir, seeds, false);
      const e2e = await run(dir, seeds, true);
      console.log(`${m.name.padEnd(28)} all checks: ${all.padEnd(44)} end to end: ${e2e}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
}
