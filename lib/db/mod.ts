/**
 * The databases: the member-local one and the replicated global one (the state machine that
 * Raft drives), their schemas, and typed queries per table.
 * @module
 */
export * from "./sqlite.ts";
export * from "./batch.ts";
export * from "./tx.ts";
export * from "./fsm.ts";
export * from "./sessions.ts";
export * from "./global.ts";
export * from "./remote_read.ts";
export * from "./local.ts";
export * from "./schema.ts";
export * from "./schema_update.ts";
export * from "./config.ts";
export * from "./certificates.ts";
export * from "./nodes.ts";
export * from "./sql_shell.ts";
export * from "./devices.ts";
export * from "./images.ts";
export * from "./storage_pools.ts";
export * from "./profiles.ts";
export * from "./instances.ts";
export * from "./instance_moves.ts";
export * from "./networks.ts";
export * from "./volumes.ts";
export * from "./projects.ts";
export * from "./project_limits.ts";
export {
  DEFAULT_PROJECT,
  type Feature,
  featureProject,
  FEATURES,
  projectConfig,
  type ProjectRow,
  projectRow,
  projectUrl,
  projectUsedBy,
} from "./project_rows.ts";
export * from "./cluster_groups.ts";
export * from "./warnings.ts";
export * from "./snapshots.ts";
