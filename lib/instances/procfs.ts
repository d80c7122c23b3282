/** What /proc and the cgroup tree tell of a running container, for GET /state. */

/** Memory in use by the container's cgroup, found through its init's cgroup path. */
export async function memoryOf(pid: number): Promise<number> {
  try {
    const cg = await Deno.readTextFile(`/proc/${pid}/cgroup`);
    const v1 = /^\d+:memory:(.*)$/m.exec(cg)?.[1];
    if (v1 !== undefined) {
      return Number((await Deno.readTextFile(`/sys/fs/cgroup/memory${v1}/memory.usage_in_bytes`)).trim());
    }
    const v2 = /^0::(.*)$/m.exec(cg)?.[1];
    if (v2 !== undefined) {
      return Number((await Deno.readTextFile(`/sys/fs/cgroup${v2}/memory.current`)).trim());
    }
  } catch { /* not readable here */ }
  return 0;
}

/** Processes in the container: those sharing its init's pid namespace. */
export async function processCount(pid: number): Promise<number> {
  try {
    const ns = await Deno.readLink(`/proc/${pid}/ns/pid`);
    return (await pidNamespaceCounts()).get(ns) ?? 0;
  } catch {
    return -1;
  }
}

/** How long one scan of /proc answers for: a list of N containers asks N times at once. */
const SCAN_FRESH_MS = 250;
let scan: { at: number; counts: Promise<Map<string, number>> } | null = null;

/**
 * Processes per pid namespace, from one scan of /proc shared by the callers of the moment: a
 * scan per container made `lxc list` read every process's namespace once per container.
 */
function pidNamespaceCounts(): Promise<Map<string, number>> {
  const now = performance.now();
  if (scan && now - scan.at < SCAN_FRESH_MS) return scan.counts;
  const counts = (async () => {
    const out = new Map<string, number>();
    for await (const e of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      try {
        const ns = await Deno.readLink(`/proc/${e.name}/ns/pid`);
        out.set(ns, (out.get(ns) ?? 0) + 1);
      } catch { /* gone */ }
    }
    return out;
  })();
  scan = { at: now, counts };
  counts.catch(() => (scan = null));
  return counts;
}

/** This machine's architecture in LXD's words. */
export function archName(): string {
  return Deno.build.arch === "x86_64" ? "x86_64" : "aarch64";
}
