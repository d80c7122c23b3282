/**
 * `init --preseed` without the command-line parser: the form scripts run at every bootstrap and
 * join, which cmd/daemon/mod.ts runs directly (see there why), and init.ts's --preseed action.
 * @module
 */
import { loadYaml } from "../../lib/util/yaml.ts";
import { readAll } from "../cli/context.ts";
import { clusterSection } from "./init_cluster.ts";
import { instanceSections } from "./init_instances.ts";
import { applyPreseed, configSection, parsePreseed, type PreseedSection } from "./preseed.ts";

/** The preseed's sections, in the order they are applied (the cluster join sees the pools). */
export const SECTIONS: readonly PreseedSection[] = [configSection, ...instanceSections, clusterSection];

/** Applies the preseed read from stdin through the local daemon. */
export async function initPreseed(): Promise<void> {
  await loadYaml();
  await applyPreseed(parsePreseed(await readAll()), SECTIONS);
}
