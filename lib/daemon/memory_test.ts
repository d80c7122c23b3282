import assert from "node:assert/strict";
import { cleanReadOnlyMappings, releaseMemory } from "./memory.ts";

const SMAPS = `55d0a0000000-55d0a1000000 r--p 00000000 fd:01 42                         /opt/deno
Rss:                1024 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
55d0a1000000-55d0a3000000 r-xp 01000000 fd:01 42                         /opt/deno
Rss:                4096 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
55d0a3000000-55d0a3001000 r--p 03000000 fd:01 42                         /opt/deno
Rss:                   4 kB
Private_Dirty:         4 kB
Anonymous:             4 kB
55d0a3001000-55d0a3002000 rw-p 03001000 fd:01 42                         /opt/deno
Rss:                   4 kB
Private_Dirty:         4 kB
Anonymous:             4 kB
7f0000000000-7f0000001000 r-xp 00000000 fd:01 43                         /usr/lib/libc.so.6
Rss:                   4 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
7f0000100000-7f0000200000 rw-p 00000000 00:00 0
Rss:                  64 kB
Anonymous:            64 kB
`;

Deno.test("only the executable's clean read-only mappings are dropped (never RELRO, data or libraries)", () => {
  assert.deepEqual(cleanReadOnlyMappings(SMAPS, "/opt/deno"), [
    { start: 0x55d0a0000000n, length: 0x1000000n },
    { start: 0x55d0a1000000n, length: 0x2000000n },
  ]);
  assert.deepEqual(cleanReadOnlyMappings(SMAPS, "/elsewhere/deno"), []);
});

Deno.test("releasing memory leaves the process working: its code comes back from the page cache", async () => {
  releaseMemory();
  releaseMemory("last-resort");
  // Code of every kind runs after the drop: compilation, crypto, timers, I/O.
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode("shoal"));
  assert.equal(new Uint8Array(digest).length, 32);
  assert.equal(new Function("a", "return a * 2")(21), 42);
  await new Promise((r) => setTimeout(r, 10));
  assert.ok(Deno.readTextFileSync("/proc/self/status").includes("VmRSS"));
});
