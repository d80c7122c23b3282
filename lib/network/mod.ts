/**
 * Managed networks on one member: Linux bridges with NAT and a supervised dnsmasq each.
 * @module
 */
export * from "./subnet.ts";
export * from "./config.ts";
export * from "./dnsmasq.ts";
export * from "./manager.ts";
export { linkExists, subnetsInUse } from "./bridge.ts";
export { natRules } from "./nat.ts";
