import assert from "node:assert/strict";
import { parseCpuinfo, parseMeminfo, parseStatfs } from "./mod.ts";

Deno.test("parseCpuinfo groups threads by socket and core", () => {
  const block = (p: number, core: number) =>
    `processor\t: ${p}\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon\ncpu MHz\t\t: 2600.1\nphysical id\t: 0\ncore id\t\t: ${core}\n`;
  const r = parseCpuinfo([block(0, 0), block(1, 0), block(2, 1)].join("\n"), "x86_64");
  assert.equal(r.total, 3);
  assert.equal(r.sockets.length, 1);
  assert.equal(r.sockets[0]!.cores.length, 2);
  assert.deepEqual(r.sockets[0]!.cores[0]!.threads.map((t) => [t.id, t.thread]), [[0, 0], [1, 1]]);
  assert.equal(r.sockets[0]!.frequency, 2600);
});

Deno.test("parseMeminfo: total and used in bytes", () => {
  const r = parseMeminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 400 kB\n");
  assert.equal(r.total, 1024000);
  assert.equal(r.used, 600 * 1024);
});

Deno.test("parseStatfs: space and inodes; garbage is refused", () => {
  const r = parseStatfs("4096 100 40 30 50 20\n");
  assert.deepEqual(r, { space: { used: 60 * 4096, total: 100 * 4096 }, inodes: { used: 30, total: 50 } });
  assert.throws(() => parseStatfs("nonsense"), /Unexpected statfs output/);
});
