/**
 * Enforces the layers (README.md, Layout): imports point down only, no two source files import each
 * other even through others (type-only imports count: a circle is a circle to a reader), and
 * lib/raft is pure (imports nothing outside itself; no I/O, timers, clock or randomness).
 * Exit 1 with every violation listed.
 */
const RANK: [string, number][] = [
  ["lib/raft/", 0],
  ["lib/util/", 0],
  ["lib/wire/", 0],
  ["lib/version.ts", 0],
  ["lib/log/", 1],
  ["lib/tls/", 1],
  ["lib/client/", 2],
  ["lib/transport/", 2],
  ["lib/raft_store/", 2],
  ["lib/driver/", 3],
  ["lib/db/", 4],
  ["lib/events/", 5],
  ["lib/operations/", 5],
  ["lib/storage/", 6],
  ["lib/images/", 6],
  ["lib/network/", 6],
  ["lib/instances/", 6],
  ["lib/resources/", 6],
  ["lib/cluster/", 7],
  ["lib/api/", 8],
  ["lib/daemon/", 9],
  ["cmd/", 10],
  ["main.ts", 11],
  ["mod.ts", 11],
];

function rankOf(path: string): number | null {
  for (const [prefix, r] of RANK) if (path === prefix || path.startsWith(prefix)) return r;
  return null;
}

const IMPURE =
  /\bDeno\.|\bsetTimeout\b|\bsetInterval\b|\bDate\.now\b|\bnew Date\b|\bMath\.random\b|\bperformance\.now\b|\bawait\b|from "node:/;

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* walk(p);
    else if (e.name.endsWith(".ts")) yield p;
  }
}

const problems: string[] = [];
const files: string[] = ["main.ts", "mod.ts"];
for (const d of ["lib", "cmd"]) {
  try {
    for await (const f of walk(d)) files.push(f);
  } catch { /* absent */ }
}
/** Relative imports between source files (not tests), for the circle check. */
const edges = new Map<string, string[]>();
const importRe = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"|import\(\s*"([^"]+)"\s*\)/g;
for (const file of files) {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch {
    continue;
  }
  const from = rankOf(file);
  if (from === null) {
    problems.push(
      `${file}: not in any layer; add its folder to scripts/check_layers.ts and README.md's Layout`,
    );
    continue;
  }
  const isTest = file.endsWith("_test.ts");
  for (const m of text.matchAll(importRe)) {
    const spec = m[1] ?? m[2]!;
    if (!spec.startsWith(".")) {
      if (file.startsWith("lib/raft/") && !isTest) {
        problems.push(`${file}: lib/raft imports "${spec}" (it must import nothing outside itself)`);
      }
      continue;
    }
    const target = new URL(spec, `file:///${file}`).pathname.slice(1);
    if (!isTest) edges.set(file, [...(edges.get(file) ?? []), target]);
    // lib/raft's tests may also use the test scaffolding in tests/raft (TestNet, seeded PRNG).
    const scaffolding = isTest && target.startsWith("tests/raft/");
    if (file.startsWith("lib/raft/") && !target.startsWith("lib/raft/") && !scaffolding) {
      problems.push(`${file}: lib/raft imports ${target} (it must import nothing outside itself)`);
      continue;
    }
    const to = rankOf(target);
    if (to === null) continue;
    if (to > from && !isTest) {
      problems.push(`${file} (layer ${from}) imports ${target} (layer ${to}): imports must point down`);
    }
  }
  if (file.startsWith("lib/raft/") && !isTest && !file.includes("/sim")) {
    const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
    const m = IMPURE.exec(code);
    if (m) problems.push(`${file}: lib/raft must be pure, found "${m[0]}"`);
  }
}
problems.push(...circles(edges));

/** Every import circle, each once, as "a -> b -> a" (depth-first, by the order files were read). */
function circles(graph: Map<string, string[]>): string[] {
  const state = new Map<string, "open" | "done">();
  const found: string[] = [];
  const visit = (v: string, path: string[]): void => {
    state.set(v, "open");
    path.push(v);
    for (const w of graph.get(v) ?? []) {
      if (state.get(w) === "open") {
        found.push(
          `import circle: ${
            [...path.slice(path.indexOf(w)), w].join(" -> ")
          }; move what both need below them`,
        );
      } else if (!state.has(w)) visit(w, path);
    }
    path.pop();
    state.set(v, "done");
  };
  for (const v of graph.keys()) if (!state.has(v)) visit(v, []);
  return found;
}

if (problems.length > 0) {
  console.error(problems.join("\n"));
  console.error(`${problems.length} layer violation(s)`);
  Deno.exit(1);
}
console.log(`layers ok: ${files.length} files`);
