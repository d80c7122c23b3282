/**
 * The entry of the yaml library's single-file build: scripts/bundle builds it for the browser
 * platform into dist/bundle/yaml_bundle.js (the package's ES module build, no Node.js built-ins),
 * which lib/util/yaml.ts loads where it can (loadYaml).
 * @module
 */
export { parse, stringify } from "yaml";
