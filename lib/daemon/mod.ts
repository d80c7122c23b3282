/**
 * Assembles a running member from the layers below: state directory, databases, event hub,
 * operations, listeners and the API.
 * @module
 */
export { Daemon, type DaemonOptions } from "./daemon.ts";
export { ensureLayout, stateDir, type StatePaths, statePaths } from "./paths.ts";
export { HttpsListener, InFlight, UnixListener } from "./listeners.ts";
export { releaseMemory, releaseMemoryPeriodically } from "./memory.ts";
