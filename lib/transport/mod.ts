/**
 * Moves Raft messages between members on the cluster address, with mutual TLS and the cluster
 * certificate: one websocket stream per peer (ws.ts), or one HTTPS POST per batch (http.ts, the
 * slower fallback kept for tools). No Raft logic here.
 * @module
 */
export * from "./codec.ts";
export * from "./http.ts";
export * from "./ws.ts";
