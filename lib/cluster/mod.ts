/**
 * Membership: this member's part in the cluster (bootstrap, join and accept, tokens), the Raft
 * gateway under the global database, forwarding to the leader, heartbeats, and roles. The
 * Cluster facade (cluster.ts) wires the parts; each part is a file of its own.
 * @module
 */
export * from "./cluster.ts";
export * from "./gateway.ts";
export * from "./liveness.ts";
export * from "./members.ts";
export * from "./member_calls.ts";
export { MemberStreams, type StreamHandler } from "./member_streams.ts";
export * from "./member_config.ts";
export * from "./notify.ts";
export * from "./roles.ts";
export type { Self } from "./self.ts";
export { MemberClients } from "./connect.ts";
export { CALLER_HEADER, MemberRouting, type Placement, type RouteTarget } from "./routing.ts";
export type { ProxiedSocket, UpstreamSocket } from "./proxy.ts";
export { apiExtensionCount, schemaVersion, UpgradeGate } from "./upgrade.ts";
export { AddressPatch } from "./address_patch.ts";
export * from "./recover.ts";
export { type DoctorReport, type MemberState, memberState, type Problem, runDoctor } from "./doctor.ts";
export { removeRaftNode } from "./raft_node.ts";
export { serveTunnel, TUNNEL_PATH } from "./ws_tunnel.ts";
export { Evacuations, type MoveInstance, ORIGIN_KEY, setMemberState } from "./evacuate.ts";
export { type EvacuateMode, modeProblem } from "./evacuate_plan.ts";
export * from "./instance_moves.ts";
export { fenceSeconds, Fencing } from "./fence.ts";
export { healBlocker, Healer } from "./heal.ts";
export { FenceWatchdog } from "./fence_watchdog.ts";
