/**
 * NetnsSet with real namespaces: two namespaces on a bridge in a third talk TCP over 127.0.0.x
 * addresses on their veths (route_localnet), and dispose leaves no namespace behind. Its
 * addresses exist only inside the namespaces it makes, so it shares none with other files.
 */
import assert from "node:assert/strict";
import { listNetns, NetnsSet, nsCmd, uniquePrefix } from "./netns.ts";

const SERVER = `const l = Deno.listen({ hostname: "127.0.0.12", port: 7000 });
console.log("listening");
const c = await l.accept(); await c.write(new TextEncoder().encode("hello")); c.close();`;
const CLIENT = `const c = await Deno.connect({ hostname: "127.0.0.12", port: 7000 });
const b = new Uint8Array(5); await c.read(b); console.log(new TextDecoder().decode(b));`;

Deno.test("NetnsSet joins namespaces on a bridge over 127.0.0.x and deletes them all", async () => {
  const before = await listNetns();
  const set = new NetnsSet(uniquePrefix("nt"));
  try {
    const hub = await set.add("hub");
    await set.bridge(hub, "br0");
    const a = await set.add("a", { localnet: true });
    const b = await set.add("b", { localnet: true });
    await set.attach({ ns: a, ifname: "eth0", hubNs: hub, bridge: "br0", port: "pa", cidr: "127.0.0.11/24" });
    await set.attach({ ns: b, ifname: "eth0", hubNs: hub, bridge: "br0", port: "pb", cidr: "127.0.0.12/24" });
    const server = new Deno.Command("ip", {
      args: ["netns", "exec", b, Deno.execPath(), "eval", SERVER],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = server.stdout.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /listening/);
    reader.releaseLock();
    const client = await nsCmd(a, Deno.execPath(), ["eval", CLIENT]);
    assert.equal(client.stdout.trim(), "hello");
    await server.stdout.cancel();
    await server.stderr.cancel();
    assert.equal((await server.status).code, 0);
    // 127.0.0.12 is not local in namespace a: it went over the wire, not a's loopback.
    const route = await nsCmd(a, "ip", ["route", "get", "127.0.0.12"]);
    assert.match(route.stdout, /dev eth0/);
  } finally {
    await set.dispose();
  }
  assert.deepEqual(set.names, []);
  assert.deepEqual((await listNetns()).filter((n) => !before.includes(n) && n.startsWith(set.prefix)), []);
});
