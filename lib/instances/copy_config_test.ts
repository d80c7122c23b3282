import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { InstanceRecord } from "../db/mod.ts";
import { copiedConfig, copyRequest, keptWhenCopying } from "./copy_config.ts";

Deno.test("a copy keeps the base image and the on-disk id map, no other volatile key", () => {
  const cases: [string, boolean][] = [
    ["volatile.base_image", true],
    ["volatile.last_state.idmap", true],
    ["volatile.eth0.hwaddr", false],
    ["volatile.idmap.current", false],
    ["volatile.idmap.next", false],
    ["volatile.last_state.power", false],
    ["limits.memory", true],
    ["user.x", true],
  ];
  for (const [k, want] of cases) assertEquals(keptWhenCopying(k), want, k);
});

Deno.test("the request's keys win over the source's; volatile keys of a request are not taken", () => {
  assertEquals(
    copiedConfig(
      {
        "limits.cpu": "1",
        "user.a": "src",
        "volatile.eth0.hwaddr": "00:16:3e:00:00:01",
        "volatile.base_image": "f",
      },
      { "user.a": "req", "volatile.idmap.base": "5" },
    ),
    { "limits.cpu": "1", "user.a": "req", "volatile.base_image": "f" },
  );
});

Deno.test("a copy request takes the source's devices and profiles where it names none", () => {
  const src = {
    config: {},
    devices: { root: { type: "disk", path: "/", pool: "default" } },
    profiles: ["default", "p2"],
    description: "d",
  } as unknown as InstanceRecord;
  const r = copyRequest(src, { name: "c2", devices: { eth0: { type: "nic", network: "n" } } });
  assertEquals(r.profiles, ["default", "p2"]);
  assertEquals(Object.keys(r.devices ?? {}).sort(), ["eth0", "root"]);
  assertEquals(copyRequest(src, { name: "c2", profiles: [] }).profiles, []);
});
