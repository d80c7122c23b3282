/**
 * The yaml library, loaded on first use: loading it takes ~17 ms of every command's start
 * (bench/cli.ts) and heap of a member at rest, and most commands (a table over the unix socket,
 * no config.yml) and a member until its first image never parse or print YAML. It loads synchronously (require: the package is CommonJS under Deno's "node"
 * condition, so this is the loader a static import used too), so callers keep its synchronous API.
 * @module
 */
import type YAMLModule from "yaml";
import type NodeModule from "node:module";

type Yaml = typeof YAMLModule;
let loaded: Yaml | undefined;

function yaml(): Yaml {
  if (!loaded) {
    // node:module by getBuiltinModule, not an import: loading it costs ~3 ms at every start too.
    const { createRequire } = process.getBuiltinModule("node:module") as typeof NodeModule;
    loaded = createRequire(import.meta.url)("yaml") as Yaml;
  }
  return loaded;
}

/** YAML.parse and YAML.stringify, as the yaml package's. */
export const YAML = {
  parse: ((...args: Parameters<Yaml["parse"]>) => yaml().parse(...args)) as Yaml["parse"],
  stringify: ((...args: Parameters<Yaml["stringify"]>) => yaml().stringify(...args)) as Yaml["stringify"],
};
