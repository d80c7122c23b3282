/**
 * The yaml library, loaded on first use: most commands (a table over the unix socket, no
 * config.yml) and a member until its first image never parse or print YAML.
 *
 * Two ways in. Synchronously (the API callers keep) by require: under Deno's "node" condition the
 * package is CommonJS, ~60 files each resolved and wrapped by Node's loader, with Node's process,
 * fs and events modules under it: 30-50 ms of a command's start. Or, awaited first (loadYaml),
 * from the launcher bundle's copy of it, one ES module built by scripts/bundle from the package's
 * browser build (lib/util/yaml_bundle.ts): ~1 ms to load. Same package, same version, same API.
 * @module
 */
import type YAMLModule from "yaml";
import type NodeModule from "node:module";

type Yaml = Pick<typeof YAMLModule, "parse" | "stringify">;
let loaded: Yaml | undefined;

function yaml(): Yaml {
  if (!loaded) {
    // node:module by getBuiltinModule, not an import: loading it costs ~3 ms at every start too.
    const { createRequire } = process.getBuiltinModule("node:module") as typeof NodeModule;
    loaded = createRequire(import.meta.url)("yaml") as Yaml;
  }
  return loaded;
}

/**
 * Loads the library from the bundle's single file when this module runs from the bundle (its
 * chunk sits beside yaml_bundle.js); from the sources there is no such file, and the first use
 * requires the package as before. Call it before a use that is on a command's critical path.
 */
export async function loadYaml(): Promise<void> {
  if (loaded) return;
  try {
    loaded = await import(new URL("./yaml_bundle.js", import.meta.url).href) as Yaml;
  } catch {
    // Not running from the bundle (or it lacks the file): yaml() requires the package.
  }
}

/** YAML.parse and YAML.stringify, as the yaml package's. */
export const YAML = {
  parse: ((...args: Parameters<Yaml["parse"]>) => yaml().parse(...args)) as Yaml["parse"],
  stringify: ((...args: Parameters<Yaml["stringify"]>) => yaml().stringify(...args)) as Yaml["stringify"],
};
