/**
 * Hands back to the kernel what a member holds but no longer uses once it has started:
 *
 * - the start's garbage: a full V8 collection (the daemon's launcher exposes gc), then glibc's
 *   malloc_trim, which returns the free pages malloc keeps (module loading leaves many);
 * - the executable's read-only pages that only the start read: Deno's V8 snapshot and embedded
 *   module sources in .rodata (about 14 MiB, read once to boot the runtime) and the code of the
 *   module loader and compilers in .text. They are clean pages of the executable file, so
 *   MADV_DONTNEED only drops this process's mapping of them: whatever is still used is mapped
 *   again from the page cache on its next access (a minor fault, no disk read), and what stays
 *   unmapped is the part of the binary the member does not use at rest. Memory the process
 *   wrote (heap, data) is never touched.
 *
 * What a member at rest is made of (bench/memory.ts; /proc/PID/smaps and V8's heap statistics of
 * the leader of three, 10 s after forming; an idle Deno process beside it: 10 MiB own, 23 mapped):
 * - its own (anonymous) memory, 25-27 MiB (standalone 22): V8's heap 13-15 MiB, of it ~4 MiB
 *   compiled code and bytecode, ~2.5 MiB module sources (our bundle ~0.55, ws and hono ~0.3,
 *   Node.js built-ins that @hono/node-server, ws and node:https pull in, loaded lazily from the
 *   binary as heap strings, most of the rest), hidden classes and closures ~2, the young
 *   generation 1-2; malloc's heap ~7 MiB (Rust runtime, TLS, SQLite; an idle Deno: 2.5); V8's
 *   code space 1-1.5; thread stacks and glibc the rest;
 * - the executable's pages it maps, 14 MiB just after a drop, growing back by ~0.5-1 MiB a second
 *   in steps of 64 KiB (the kernel's fault-around) to 20-24 MiB within a minute: the code a
 *   resting member runs (Raft ticks, heartbeats over TLS, timers, SQLite, V8's collector and its
 *   compilers tiering up what runs) — not the start's, dropped at the moments below.
 * Without the drop ~50 MiB of the binary stay resident for good. Module sources are run from
 * scripts/bundle's build, ~4 MiB less than Deno's TypeScript output, which inlines a base64 copy
 * of each module's source map (V8 keeps the map's URL as a second copy). A joiner held ~7 MiB
 * more for some seconds after joining while certificates were made by an X.509 library in a
 * worker (a second V8 isolate); lib/tls/der.ts made that unnecessary.
 * @module
 */

type Libc = {
  trim: () => void;
  dontNeed: (start: bigint, length: bigint) => void;
};

let libc: Libc | null | undefined;

function open(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    const lib = Deno.dlopen("libc.so.6", {
      malloc_trim: { parameters: ["usize"], result: "i32" },
      madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
    });
    const MADV_DONTNEED = 4;
    libc = {
      trim: () => void lib.symbols.malloc_trim(0n),
      dontNeed: (start, length) =>
        void lib.symbols.madvise(Deno.UnsafePointer.create(start), length, MADV_DONTNEED),
    };
  } catch {
    libc = null; // not glibc, or no FFI permission: nothing to hand back this way
  }
  return libc;
}

/**
 * The executable's read-only, private, file-backed mappings ("r--p" and "r-xp") that hold no
 * page of their own, from /proc/self/smaps: the relocated part (RELRO, written by the dynamic
 * loader, then made read-only) has anonymous pages and must keep them.
 */
export function cleanReadOnlyMappings(smaps: string, exe: string): { start: bigint; length: bigint }[] {
  const out: { start: bigint; length: bigint }[] = [];
  let cur: { start: bigint; length: bigint; ok: boolean } | null = null;
  const flush = () => {
    if (cur?.ok) out.push({ start: cur.start, length: cur.length });
    cur = null;
  };
  for (const line of smaps.split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) [0-9a-f]+ \S+ \d+\s*(.*)$/.exec(line);
    if (m) {
      flush();
      const start = BigInt(`0x${m[1]}`), end = BigInt(`0x${m[2]}`);
      cur = { start, length: end - start, ok: (m[3] === "r--p" || m[3] === "r-xp") && m[4] === exe };
      continue;
    }
    const f = /^(Private_Dirty|Anonymous|Shared_Dirty):\s+(\d+) kB/.exec(line);
    if (f && cur && Number(f[2]) > 0) cur.ok = false;
  }
  flush();
  return out;
}

/**
 * One collection, trim and drop of the executable's cold read-only pages, now. `last-resort` is
 * V8's low-memory collection: full collections until nothing more comes free, compacting, the
 * young generation shrunk back. Those few collections in a row age out the bytecode of what has
 * not run since (the start's schema, migrations, bootstrap or join code: run once), which a plain
 * collection keeps for good; what a member still runs is compiled again on its next call from the
 * source V8 keeps. 2-3 MiB less of a member's own memory (bench/memory.ts), for a pause 2-3 times
 * a regular full collection's (25-200 ms against 15-85 on a loaded 2-core machine).
 */
export function releaseMemory(flavor: "regular" | "last-resort" = "regular"): void {
  releaseHeap(flavor);
  const c = open();
  if (!c) return;
  try {
    const exe = Deno.execPath();
    const smaps = Deno.readTextFileSync("/proc/self/smaps");
    for (const r of cleanReadOnlyMappings(smaps, exe)) c.dontNeed(r.start, r.length);
  } catch { /* no /proc: nothing dropped */ }
}

/**
 * Drops what starting used, once the runtime is up (1 s), and again 2 s and 8 s after each change
 * of the cluster's members (`settled()`: a bootstrap, a join, a removal), whose code is cold once
 * it is done. Never on a timer: past those moments the pages a member maps are the ones it
 * uses, and dropping them again would only make it fault them back in to look smaller. The heap
 * and malloc's free pages are handed back every minute (a full collection of a ~15 MiB heap and a
 * trim: a few milliseconds).
 */
export function releaseMemoryPeriodically(heapPeriodMs = 60_000): { settled(): void; stop(): void } {
  let pending: ReturnType<typeof setTimeout>[] = [];
  // A change's aftermath runs for a few seconds more (event streams to a newcomer open 2-4 s
  // after it appears, roles are rebalanced): drop once soon and once when that is over.
  // The last drop of each series also flushes the code that is done with (releaseMemory's
  // last-resort): once, not at each, as its pause is longer.
  const after = (...delays: number[]) => {
    pending.forEach(clearTimeout);
    pending = delays.map((ms, i) =>
      setTimeout(() => releaseMemory(i === delays.length - 1 ? "last-resort" : "regular"), ms)
    );
    pending.forEach((t) => Deno.unrefTimer(t));
  };
  after(1_000);
  const every = setInterval(() => releaseHeap(), heapPeriodMs);
  Deno.unrefTimer(every);
  return {
    settled: () => after(2_000, 8_000),
    stop: () => {
      pending.forEach(clearTimeout);
      clearInterval(every);
    },
  };
}

/**
 * One collection and trim, leaving the executable's pages mapped: a `regular` full collection, or
 * V8's `last-resort` (see releaseMemory).
 */
export function releaseHeap(flavor: "regular" | "last-resort" = "regular"): void {
  (globalThis as { gc?: (o?: unknown) => void }).gc?.({ type: "major", execution: "sync", flavor });
  open()?.trim();
}
