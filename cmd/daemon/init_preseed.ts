/**
 * `init --preseed` without the command-line parser: the form scripts run at every bootstrap and
 * join, which cmd/daemon/mod.ts runs directly (see there why), and init.ts's --preseed action.
 * @module
 */
import { loadYaml } from "../../lib/util/yaml.ts";
import { readAll } from "../cli/context.ts";
import { clusterSection } from "./init_cluster.ts";
import { instanceSections } from "./init_instances.ts";
import {
  applyPreseed,
  configSection,
  connectLocal,
  parsePreseed,
  type Preseed,
  type PreseedSection,
} from "./preseed.ts";

/** The preseed's sections, in the order they are applied (the cluster join sees the pools). */
export const SECTIONS: readonly PreseedSection[] = [configSection, ...instanceSections, clusterSection];

/**
 * Applies the preseed read from stdin through the local daemon. The daemon is asked whether it
 * is there (its first answer is its slowest) while the YAML library loads and the preseed is
 * read; a preseed that cannot be parsed is still the error reported first.
 */
export async function initPreseed(): Promise<void> {
  const connection = connectLocal();
  connection.catch(() => {}); // reported by applyPreseed, after the preseed's own errors
  let p: Preseed;
  try {
    await loadYaml();
    p = parsePreseed(await readAll());
  } catch (e) {
    void connection.then((c) => c.close(), () => {});
    throw e;
  }
  await applyPreseed(p, SECTIONS, connection);
}
