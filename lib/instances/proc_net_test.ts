import assert from "node:assert/strict";
import { networkState } from "./nic.ts";
import { fibAddresses, ipv6Text, procNetworkState } from "./proc_net.ts";

Deno.test("IPv6 addresses are written as ip writes them (RFC 5952)", () => {
  assert.equal(ipv6Text("00000000000000000000000000000001"), "::1");
  assert.equal(ipv6Text("fe8000000000000000fc00fffe000001"), "fe80::fc:ff:fe00:1");
  assert.equal(ipv6Text("fd000000000000000000000000000002"), "fd00::2");
  assert.equal(ipv6Text("20010db8000000010000000000000001"), "2001:db8:0:1::1");
  assert.equal(ipv6Text("20010db8000100020003000400050006"), "2001:db8:1:2:3:4:5:6");
});

Deno.test("fib_trie's local entries are the addresses, the prefix their network's", () => {
  const trie = `Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 10.0.3.0/24 2 0 2
        +-- 10.0.3.0/28 2 0 2
           |-- 10.0.3.0
              /24 link UNICAST
           |-- 10.0.3.15
              /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 127.0.0.1
        /32 host LOCAL
`;
  assert.deepEqual(fibAddresses(trie), [
    { address: "127.0.0.1", prefix: 8, hostPrefix: true },
    { address: "10.0.3.15", prefix: 24, hostPrefix: false },
  ]);
});

Deno.test("read from /proc, a namespace's interfaces are what ip shows (this process's own)", async () => {
  const viaIp = await networkState(Deno.pid);
  const viaProc = await procNetworkState(Deno.pid);
  if (viaIp === null) return console.log("skipped: nsenter or ip is not usable here");
  assert.ok(viaProc !== null);
  // Counters move between the two reads; addresses are compared as sets (ip's IPv6 order is the
  // kernel's dump order, if_inet6's its hash's).
  const norm = (s: NonNullable<typeof viaIp>) =>
    Object.fromEntries(
      Object.entries(s).map(([k, v]) => [k, {
        ...v,
        counters: null,
        addresses: [...v.addresses].sort((a, b) => (a.address < b.address ? -1 : 1)),
      }]),
    );
  assert.deepEqual(norm(viaProc), norm(viaIp));
  assert.deepEqual(Object.keys(viaProc), Object.keys(viaIp));
});
