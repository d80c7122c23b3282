/**
 * Writes the commander package's ES module sources (the version deno.json pins, from Deno's npm
 * cache) into OUT, their `node:` imports pointed at cmd/cli/commander_node.ts, and an import map
 * OUT/import_map.json that sends "commander" there: scripts/bundle bundles main.ts with it, so the
 * launchers' commands start without Node's built-in modules (see commander_node.ts why). Fails,
 * changing nothing the bundle uses, when the package is not where it should be or imports a
 * built-in the shim does not provide: the bundle then leaves commander to the npm package.
 *
 *   deno run -A scripts/commander_copy.ts OUT
 * @module
 */
const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const out = Deno.args[0];
if (!out) throw new Error("usage: commander_copy.ts OUT");

const config = JSON.parse(await Deno.readTextFile(`${root}/deno.json`));
const spec: string = config.imports?.commander ?? "";
const version = /^npm:commander@(\d+\.\d+\.\d+)$/.exec(spec)?.[1];
if (!version) throw new Error(`deno.json's commander import is "${spec}", not npm:commander@X.Y.Z`);
const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stderr: "null" }).output();
const npmCache: string = JSON.parse(new TextDecoder().decode(info.stdout)).npmCache;
// Deno names the cache's folder after the registry it used (registry.npmjs.org unless
// NPM_CONFIG_REGISTRY points elsewhere): look in each.
const pkg = [...Deno.readDirSync(npmCache)]
  .map((e) => `${npmCache}/${e.name}/commander/${version}`)
  .find((dir) => {
    try {
      return Deno.statSync(`${dir}/lib`).isDirectory;
    } catch {
      return false;
    }
  });
if (!pkg) throw new Error(`commander ${version} is not in Deno's npm cache ${npmCache}: run scripts/setup`);

// What the shim exports for each built-in commander imports: named imports keep their names,
// a default import takes the shim's export of that name.
const DEFAULTS: Record<string, string> = {
  "node:child_process": "childProcess",
  "node:path": "path",
  "node:fs": "fs",
  "node:process": "process",
};
const NAMED: Record<string, string[]> = {
  "node:events": ["EventEmitter"],
  "node:util": ["stripVTControlCharacters"],
};

function rewrite(file: string, text: string, shim: string): string {
  const done = text
    .replace(/^import (\w+) from '(node:[\w/]+)';$/gm, (line, name: string, mod: string) => {
      const exp = DEFAULTS[mod];
      if (!exp) throw new Error(`${file}: ${line}: no default export of ${mod} in the shim`);
      return `import { ${exp} as ${name} } from '${shim}';`;
    })
    .replace(/^import \{([\w\s,]+)\} from '(node:[\w/]+)';$/gm, (line, names: string, mod: string) => {
      for (const n of names.split(",").map((s) => s.trim()).filter(Boolean)) {
        if (!NAMED[mod]?.includes(n)) throw new Error(`${file}: ${line}: no ${n} of ${mod} in the shim`);
      }
      return `import {${names}} from '${shim}';`;
    });
  if (/['"]node:/.test(done)) throw new Error(`${file}: a node: import this script does not rewrite`);
  return done;
}

await Deno.mkdir(`${out}/lib`, { recursive: true });
const shimPath = `${root}/cmd/cli/commander_node.ts`;
for (const f of ["index.js", ...[...Deno.readDirSync(`${pkg}/lib`)].map((e) => `lib/${e.name}`)]) {
  if (!f.endsWith(".js")) continue;
  const depth = f.split("/").length - 1;
  const shim = relative(`${out}/${depth ? "lib" : ""}`.replace(/\/$/, ""), shimPath);
  await Deno.writeTextFile(`${out}/${f}`, rewrite(f, await Deno.readTextFile(`${pkg}/${f}`), shim));
}
await Deno.writeTextFile(
  `${out}/import_map.json`,
  JSON.stringify(
    { imports: { ...config.imports, commander: `${relative(out, `${out}/index.js`)}` } },
    null,
    2,
  ),
);

/** A relative specifier from directory `from` to file `to` (both absolute). */
function relative(from: string, to: string): string {
  const a = from.split("/").filter(Boolean);
  const b = to.split("/").filter(Boolean);
  let i = 0;
  while (i < a.length && i < b.length - 1 && a[i] === b[i]) i++;
  const up = a.length - i;
  return `${up ? "../".repeat(up) : "./"}${b.slice(i).join("/")}`;
}
