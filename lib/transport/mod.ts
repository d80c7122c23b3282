/**
 * Moves Raft messages between members on the cluster address, with mutual TLS and the cluster
 * certificate: one websocket stream per peer. No Raft logic here.
 * @module
 */
export * from "./codec.ts";
export * from "./ws.ts";
