/**
 * `deno task bench [NAME…]`: runs every bench in bench/ (each `bench/*.ts` other than the helpers:
 * this file, floors.ts, lxd.ts, and files starting with `_`), or only the ones named (`api_latency` or
 * `bench/api_latency.ts`). Each runs in its own process, one after another, so they do not disturb each other.
 * @module
 */
const HERE = new URL(".", import.meta.url).pathname;
const HELPERS = new Set(["mod.ts", "floors.ts", "lxd.ts"]);

function isBench(name: string): boolean {
  return name.endsWith(".ts") && !name.endsWith("_test.ts") && !HELPERS.has(name) && !name.startsWith("_");
}

async function benches(): Promise<string[]> {
  const all: string[] = [];
  for await (const e of Deno.readDir(HERE)) if (e.isFile && isBench(e.name)) all.push(e.name);
  return all.sort();
}

const all = await benches();
const wanted = Deno.args.length === 0 ? all : Deno.args.map((a) => {
  const name = a.replace(/^.*\//, "").replace(/\.ts$/, "") + ".ts";
  if (!all.includes(name)) {
    console.error(
      `Error: no bench named "${a}" (have: ${all.map((b) => b.replace(/\.ts$/, "")).join(", ")})`,
    );
    Deno.exit(1);
  }
  return name;
});

let failed = 0;
for (const b of wanted) {
  console.log(`\n=== bench/${b}`);
  const st = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", "--cached-only", `${HERE}${b}`] })
    .spawn().status;
  if (!st.success) {
    failed++;
    console.error(`bench/${b} failed (exit ${st.code})`);
  }
}
Deno.exit(failed === 0 ? 0 : 1);
