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
    let n = 0;
    for await (const e of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      try {
        if ((await Deno.readLink(`/proc/${e.name}/ns/pid`)) === ns) n++;
      } catch { /* gone */ }
    }
    return n;
  } catch {
    return -1;
  }
}

/** This machine's architecture in LXD's words. */
export function archName(): string {
  return Deno.build.arch === "x86_64" ? "x86_64" : "aarch64";
}
