/**
 * Moves Raft messages between members over HTTPS (POST /internal/raft on the cluster address,
 * mutual TLS with the cluster certificate). No Raft logic here.
 * @module
 */
export * from "./codec.ts";
export * from "./http.ts";
