import assert from "node:assert/strict";
import {
  contains,
  dhcpRange,
  formatCidr4,
  gatewayProblem,
  overlaps,
  parseCidr4,
  pickSubnet,
} from "./subnet.ts";

Deno.test("CIDRs parse, overlap and hold addresses as IPv4 says", () => {
  const a = parseCidr4("10.1.2.1/24")!;
  assert.equal(formatCidr4(a), "10.1.2.1/24");
  assert.equal(parseCidr4("10.1.2.256/24"), null);
  assert.equal(parseCidr4("10.1.2.1"), null);
  assert.equal(parseCidr4("10.1.2.1/33"), null);
  assert.ok(overlaps(a, parseCidr4("10.1.0.0/16")!));
  assert.ok(overlaps(parseCidr4("10.1.0.0/16")!, a));
  assert.ok(!overlaps(a, parseCidr4("10.1.3.1/24")!));
  assert.ok(contains(a, parseCidr4("10.1.2.200/32")!.address));
});

Deno.test("a gateway must be a host address of a usable prefix", () => {
  assert.equal(gatewayProblem("10.1.2.1/24"), null);
  assert.match(gatewayProblem("10.1.2.0/24")!, /network's own or broadcast/);
  assert.match(gatewayProblem("10.1.2.255/24")!, /network's own or broadcast/);
  assert.match(gatewayProblem("10.1.2.1/31")!, /prefix/);
  assert.match(gatewayProblem("nonsense")!, /CIDR/);
});

Deno.test("the DHCP range leaves out the gateway", () => {
  assert.deepEqual(dhcpRange(parseCidr4("10.1.2.1/24")!), { first: "10.1.2.2", last: "10.1.2.254" });
  assert.deepEqual(dhcpRange(parseCidr4("10.1.2.254/24")!), { first: "10.1.2.1", last: "10.1.2.253" });
});

Deno.test("auto picks a 10.x.y.1/24 that overlaps nothing in use, or none when all are taken", () => {
  let n = 0;
  const seq = [0, 0, 0, 0, 0.5, 0.5];
  const rnd = () => seq[n++ % seq.length]!;
  const got = pickSubnet([parseCidr4("10.0.0.1/24")!], rnd)!;
  assert.equal(formatCidr4(got), "10.128.128.1/24");
  assert.equal(pickSubnet([parseCidr4("10.0.0.0/8")!], Math.random, 20), null);
});
