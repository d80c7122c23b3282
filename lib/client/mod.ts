/**
 * The typed client of shoal's REST API, used by the CLI and by members calling each other.
 * @module
 */
export * from "./client.ts";
export * from "./transport.ts";
export * from "./bytes.ts";
export * from "./operation_socket.ts";
export type * from "../wire/mod.ts";
