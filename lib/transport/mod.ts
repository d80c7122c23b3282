/**
 * Moves Raft messages between members on the cluster address, with mutual TLS and the cluster
 * certificate: one websocket stream per peer; and calls (request and answer) over a websocket
 * per member, which never delivers a request twice. No Raft logic here.
 * @module
 */
export * from "./calls.ts";
export * from "./codec.ts";
export * from "./ws.ts";
