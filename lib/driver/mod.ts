/**
 * Runs the pure Raft core (lib/raft) against durable storage, the transport and a state
 * machine: the only layer with timers.
 * @module
 */
export * from "./driver.ts";
export * from "./state_machine.ts";
export * from "./clock.ts";
export * from "./log_storage.ts";
export type { DriverOptions } from "./options.ts";
