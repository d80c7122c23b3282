/** The yaml library, loaded on first use (lib/util/yaml.ts). */
export { YAML } from "../../lib/util/yaml.ts";
