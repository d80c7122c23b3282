/**
 * Instances on one member: real containers run by liblxc's tools, with LXD's exec protocol,
 * file access confined to the container's root, and LXD's naming and config rules.
 * @module
 */
export * from "./config.ts";
export * from "./exec.ts";
export * from "./files.ts";
export * from "./idmap.ts";
export * from "./lxc.ts";
export * from "./manager.ts";
export * from "./names.ts";
export { SysError } from "./sys.ts";
export * from "./templates.ts";
export * from "./types.ts";
export * from "./moves.ts";
export * from "./copy_config.ts";
export { createRequestProblem } from "./requests.ts";
export { checkDisks } from "./disks.ts";
export { tarVolume, untarInto } from "./volume_stream.ts";
export * from "./snapshots.ts";
