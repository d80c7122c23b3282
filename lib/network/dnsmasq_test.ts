import assert from "node:assert/strict";
import { parseLeases } from "./dnsmasq.ts";

Deno.test("dnsmasq's lease file reads as leases; anonymous clients have no hostname", () => {
  const l = parseLeases(
    "1796241208 00:16:3e:11:22:33 10.99.1.210 c1 01:00:16:3e:11:22:33\n1796241209 00:16:3e:11:22:34 10.99.1.211 * *\n\ngarbage\n",
  );
  assert.deepEqual(l, [
    { expiry: 1796241208, hwaddr: "00:16:3e:11:22:33", address: "10.99.1.210", hostname: "c1" },
    { expiry: 1796241209, hwaddr: "00:16:3e:11:22:34", address: "10.99.1.211", hostname: "" },
  ]);
});
