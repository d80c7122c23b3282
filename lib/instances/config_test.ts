import assert from "node:assert/strict";
import { configProblem, expand, renderTemplate, rootDisk } from "./config.ts";
import { cpuSet, parseMemory, renderLxcConfig } from "./lxc.ts";

Deno.test("instance config is checked with LXD's texts", () => {
  assert.equal(configProblem({ "limits.memory": "256MiB", "environment.FOO": "bar", "user.x": "y" }), null);
  assert.equal(configProblem({ "nope.key": "1" }), "Unknown configuration key: nope.key");
  assert.match(configProblem({ "boot.autostart": "maybe" })!, /boot.autostart.*boolean/);
  assert.match(configProblem({ "limits.cpu": "two" })!, /limits.cpu/);
  assert.match(configProblem({ "volatile.x": "1" }, true)!, /Volatile keys/);
});

Deno.test("expanded config applies profiles in order, then the instance", () => {
  const root = { root: { type: "disk", path: "/", pool: "default" } };
  const e = expand([{ config: { "limits.cpu": "1", "user.a": "p" }, devices: root }], {
    config: { "user.a": "i" },
    devices: {},
  });
  assert.deepEqual(e.config, { "limits.cpu": "1", "user.a": "i" });
  assert.deepEqual(rootDisk(e.devices), { name: "root", pool: "default" });
  assert.equal(rootDisk({}), null);
});

Deno.test("limits become cgroup settings; templates see the instance name", () => {
  assert.equal(parseMemory("256MiB"), 256 * 1024 * 1024);
  assert.equal(parseMemory("1GB"), 1e9);
  assert.equal(parseMemory("lots"), null);
  assert.equal(cpuSet("2", 8), "0-1");
  assert.equal(cpuSet("1", 8), "0");
  assert.equal(cpuSet("0,2-3", 8), "0,2-3");
  const cfg = renderLxcConfig({
    name: "c1",
    rootfs: "/p/rootfs",
    logFile: "/l/lxc.log",
    consoleFile: "/l/console.log",
    config: { "limits.memory": "64MiB", "limits.cpu": "1", "environment.A": "b" },
    cgroup: "v1",
  });
  assert.match(cfg, /lxc.cgroup.memory.limit_in_bytes = 67108864/);
  assert.match(cfg, /lxc.cgroup.cpuset.cpus = 0\n/);
  assert.match(cfg, /lxc.environment = A=b/);
  assert.match(cfg, /lxc.rootfs.path = dir:\/p\/rootfs/);
  assert.equal(
    renderTemplate("{{ container.name }}\n", { name: "c1", architecture: "x86_64", trigger: "create" }),
    "c1\n",
  );
});
