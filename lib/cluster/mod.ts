/**
 * Membership: this member's part in the cluster (bootstrap, join, accept, tokens), the Raft
 * gateway under the global database, forwarding to the leader, heartbeats, and roles.
 * @module
 */
export * from "./cluster.ts";
export * from "./gateway.ts";
export * from "./liveness.ts";
export * from "./members.ts";
export * from "./member_config.ts";
export * from "./roles.ts";
export type { ForwardedResult, ForwardedTx } from "./forwarding.ts";
export { MemberClients } from "./connect.ts";
