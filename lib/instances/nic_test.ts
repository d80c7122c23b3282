import assert from "node:assert/strict";
import { planNics, randomMac, renderNics } from "./nic.ts";

Deno.test("a nic keeps the MAC it was given once, and gets a fresh host-side veth each start", () => {
  const devices = {
    eth0: { type: "nic", network: "br1", name: "eth0" },
    root: { type: "disk", path: "/", pool: "p" },
  };
  const first = planNics(devices, {});
  const mac = first.volatile["volatile.eth0.hwaddr"]!;
  assert.match(mac, /^00:16:3e(:[0-9a-f]{2}){3}$/);
  const again = planNics(devices, { "volatile.eth0.hwaddr": mac });
  assert.equal(again.nics[0]!.hwaddr, mac);
  assert.equal(again.volatile["volatile.eth0.hwaddr"], undefined);
  assert.notEqual(again.nics[0]!.hostName, first.nics[0]!.hostName);
  assert.notEqual(randomMac(), randomMac());
});

Deno.test("liblxc gets a veth on the bridge per nic, or an empty network without nics", () => {
  assert.deepEqual(renderNics([]), ["lxc.net.0.type = empty"]);
  const { nics } = planNics({
    eth0: { type: "nic", nictype: "bridged", parent: "br0", hwaddr: "00:16:3e:00:00:01" },
  }, {});
  const lines = renderNics(nics);
  assert.ok(lines.includes("lxc.net.0.type = veth"));
  assert.ok(lines.includes("lxc.net.0.link = br0"));
  assert.ok(lines.includes("lxc.net.0.hwaddr = 00:16:3e:00:00:01"));
  assert.ok(lines.includes("lxc.net.0.name = eth0"));
});
