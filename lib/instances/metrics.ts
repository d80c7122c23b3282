/**
 * LXD's instance metrics (doc/reference/provided_metrics.md: names, types, labels) for the
 * running containers of this member, read from their cgroup (v1 or v2) and /proc/PID/net/dev.
 * @module
 */
import { type Family, family, type Labels } from "../util/metrics.ts";
import { runTool } from "../util/mod.ts";
import { processCount } from "./procfs.ts";

/** What the metrics of one running container are read from. */
export interface RunningInstance {
  name: string;
  project: string;
  /** The container's init, as the host sees it. */
  pid: number;
}

type Sample = { labels: Labels; value: number };

async function read(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return null;
  }
}

/** "key value" lines (memory.stat, cpu.stat, cpuacct.stat) as numbers. */
export function parseKeyValues(text: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? "").split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** /proc/PID/net/dev: per interface, received and transmitted bytes, packets, errors, drops. */
export function parseNetDev(text: string | null): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const line of (text ?? "").split("\n").slice(2)) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.trim().split(/\s+/).map(Number);
  }
  return out;
}

/** Disk I/O per device from v1's blkio lines ("8:0 Read 123") or v2's io.stat ("8:0 rbytes=1 …"). */
export function parseIo(
  v1Bytes: string | null,
  v1Ops: string | null,
  v2: string | null,
): Record<string, { rbytes: number; wbytes: number; rios: number; wios: number }> {
  const out: Record<string, { rbytes: number; wbytes: number; rios: number; wios: number }> = {};
  const dev = (d: string) => out[d] ??= { rbytes: 0, wbytes: 0, rios: 0, wios: 0 };
  for (const line of (v2 ?? "").split("\n")) {
    const [d, ...kv] = line.trim().split(/\s+/);
    if (!d || !/^\d+:\d+$/.test(d)) continue;
    for (const p of kv) {
      const [k, v] = p.split("=");
      if (k === "rbytes" || k === "wbytes" || k === "rios" || k === "wios") dev(d)[k] = Number(v);
    }
  }
  const v1 = (text: string | null, read: "rbytes" | "rios", write: "wbytes" | "wios") => {
    for (const line of (text ?? "").split("\n")) {
      const [d, op, v] = line.trim().split(/\s+/);
      if (!d || !/^\d+:\d+$/.test(d)) continue;
      if (op === "Read") dev(d)[read] = Number(v);
      if (op === "Write") dev(d)[write] = Number(v);
    }
  };
  v1(v1Bytes, "rbytes", "wbytes");
  v1(v1Ops, "rios", "wios");
  return out;
}

/** The cgroup directory of each controller of a process (v1: per controller; v2: one). */
async function cgroupDirs(pid: number): Promise<(controller: string) => string | null> {
  const text = await read(`/proc/${pid}/cgroup`) ?? "";
  const v1 = new Map<string, string>();
  let v2: string | null = null;
  for (const line of text.split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === "") v2 = m[2]!;
    else for (const c of m[1]!.split(",")) v1.set(c, m[2]!);
  }
  return (c) => {
    const p = v1.get(c);
    if (p !== undefined) return `/sys/fs/cgroup/${c}${p}`;
    return v2 !== null && v1.size === 0 ? `/sys/fs/cgroup${v2}` : null;
  };
}

async function hostMemTotal(): Promise<number> {
  return (parseKeyValues((await read("/proc/meminfo"))?.replaceAll(":", "") ?? null).MemTotal ?? 0) * 1024;
}

/** The metrics of one running container, added to the families' sample lists. */
async function collectOne(i: RunningInstance, add: (name: string, s: Sample) => void): Promise<void> {
  const base: Labels = { name: i.name, project: i.project, type: "container" };
  const dir = await cgroupDirs(i.pid);
  // CPU seconds by mode: v1's cpuacct.usage_all per CPU, else v2's cpu.stat (no per-CPU split, cpu="0").
  const cpuacct = dir("cpuacct");
  const all = cpuacct ? await read(`${cpuacct}/cpuacct.usage_all`) : null;
  if (all) {
    for (const line of all.split("\n").slice(1)) {
      const [cpu, user, system] = line.trim().split(/\s+/);
      if (cpu === undefined || user === undefined || system === undefined) continue;
      add("lxd_cpu_seconds_total", { labels: { ...base, cpu, mode: "user" }, value: Number(user) / 1e9 });
      add("lxd_cpu_seconds_total", { labels: { ...base, cpu, mode: "system" }, value: Number(system) / 1e9 });
    }
  } else {
    const cpu = dir("cpu");
    const st = parseKeyValues(cpu ? await read(`${cpu}/cpu.stat`) : null);
    add("lxd_cpu_seconds_total", {
      labels: { ...base, cpu: "0", mode: "user" },
      value: (st.user_usec ?? 0) / 1e6,
    });
    add("lxd_cpu_seconds_total", {
      labels: { ...base, cpu: "0", mode: "system" },
      value: (st.system_usec ?? 0) / 1e6,
    });
  }
  const cpuset = dir("cpuset");
  const cpus =
    (cpuset ? await read(`${cpuset}/cpuset.effective_cpus`) ?? await read(`${cpuset}/cpuset.cpus`) : null)
      ?.trim();
  add("lxd_cpu_effective_total", { labels: base, value: cpus ? countCpus(cpus) : navigatorCpus() });

  // Memory: v1 names (total_*) or v2 names, mapped to LXD's /proc/meminfo-like names.
  const mem = dir("memory");
  const ms = parseKeyValues(mem ? await read(`${mem}/memory.stat`) : null);
  const v1 = mem !== null && (await read(`${mem}/memory.usage_in_bytes`)) !== null;
  const usage = Number(
    (mem ? await read(`${mem}/${v1 ? "memory.usage_in_bytes" : "memory.current"}`) : "0") ?? 0,
  );
  const limitText = (mem ? await read(`${mem}/${v1 ? "memory.limit_in_bytes" : "memory.max"}`) : null)
    ?.trim();
  const host = await hostMemTotal();
  const limit = limitText && /^\d+$/.test(limitText) ? Math.min(Number(limitText), host || Infinity) : host;
  const g = (v1name: string, v2name: string) => (v1 ? ms[`total_${v1name}`] ?? ms[v1name] : ms[v2name]) ?? 0;
  const free = Math.max(0, limit - usage);
  const memory: Record<string, number> = {
    Active_anon: g("active_anon", "active_anon"),
    Active_file: g("active_file", "active_file"),
    Active: g("active_anon", "active_anon") + g("active_file", "active_file"),
    Cached: g("cache", "file"),
    Dirty: g("dirty", "file_dirty"),
    Inactive_anon: g("inactive_anon", "inactive_anon"),
    Inactive_file: g("inactive_file", "inactive_file"),
    Inactive: g("inactive_anon", "inactive_anon") + g("inactive_file", "inactive_file"),
    Mapped: g("mapped_file", "file_mapped"),
    MemTotal: limit,
    MemFree: free,
    // What could be had without swapping: the free part and the page cache it may drop.
    MemAvailable: Math.min(
      limit,
      free + g("inactive_file", "inactive_file") + g("active_file", "active_file"),
    ),
    RSS: g("rss", "anon"),
    Shmem: g("shmem", "shmem"),
    Swap: g("swap", "swap"),
    Unevictable: g("unevictable", "unevictable"),
    Writeback: g("writeback", "file_writeback"),
    HugepagesFree: 0,
    HugepagesTotal: 0,
  };
  for (const [k, v] of Object.entries(memory)) add(`lxd_memory_${k}_bytes`, { labels: base, value: v });
  const oom = v1
    ? parseKeyValues(mem ? await read(`${mem}/memory.oom_control`) : null).oom_kill
    : parseKeyValues(mem ? await read(`${mem}/memory.events`) : null).oom_kill;
  add("lxd_memory_OOM_kills_total", { labels: base, value: oom ?? 0 });

  // Disk I/O per device.
  const blkio = dir("blkio");
  const io = parseIo(
    blkio ? await read(`${blkio}/blkio.throttle.io_service_bytes_recursive`) : null,
    blkio ? await read(`${blkio}/blkio.throttle.io_serviced_recursive`) : null,
    blkio === null && dir("io") !== null ? await read(`${dir("io")}/io.stat`) : null,
  );
  for (const [device, d] of Object.entries(io)) {
    const l = { ...base, device };
    add("lxd_disk_read_bytes_total", { labels: l, value: d.rbytes });
    add("lxd_disk_reads_completed_total", { labels: l, value: d.rios });
    add("lxd_disk_written_bytes_total", { labels: l, value: d.wbytes });
    add("lxd_disk_writes_completed_total", { labels: l, value: d.wios });
  }

  // Network, per interface of the container's namespace.
  for (const [device, c] of Object.entries(parseNetDev(await read(`/proc/${i.pid}/net/dev`)))) {
    const l = { ...base, device };
    add("lxd_network_receive_bytes_total", { labels: l, value: c[0] ?? 0 });
    add("lxd_network_receive_packets_total", { labels: l, value: c[1] ?? 0 });
    add("lxd_network_receive_errs_total", { labels: l, value: c[2] ?? 0 });
    add("lxd_network_receive_drop_total", { labels: l, value: c[3] ?? 0 });
    add("lxd_network_transmit_bytes_total", { labels: l, value: c[8] ?? 0 });
    add("lxd_network_transmit_packets_total", { labels: l, value: c[9] ?? 0 });
    add("lxd_network_transmit_errs_total", { labels: l, value: c[10] ?? 0 });
    add("lxd_network_transmit_drop_total", { labels: l, value: c[11] ?? 0 });
  }

  // The root filesystem as the container sees it (/proc/PID/root), labelled as LXD labels its
  // root disk: the mount's source, the filesystem type, mountpoint "/".
  const fs = await rootFilesystem(i.pid);
  if (fs) {
    const l = { ...base, device: fs.device, fstype: fs.fstype, mountpoint: "/" };
    add("lxd_filesystem_avail_bytes", { labels: l, value: fs.avail });
    add("lxd_filesystem_free_bytes", { labels: l, value: fs.free });
    add("lxd_filesystem_size_bytes", { labels: l, value: fs.size });
  }

  // Processes of the container's pid namespace (a pids cgroup may be shared or absent).
  add("lxd_procs_total", { labels: base, value: Math.max(0, await processCount(i.pid)) });
}

/** LXD's names of the filesystem types it knows (storage/filesystem FSTypeToName), by statfs magic. */
const FS_TYPES: Record<string, string> = {
  ef53: "ext4",
  "9123683e": "btrfs",
  "58465342": "xfs",
  "2fc12fc1": "zfs",
  "1021994": "tmpfs",
  "6969": "nfs",
};

export interface FsStats {
  device: string;
  fstype: string;
  size: number;
  free: number;
  avail: number;
}

/**
 * Parses `stat -f -c "%t %T %S %b %f %a"` (type magic in hex, its name, block size, blocks, free,
 * available) and the source of "/" in the container's mountinfo.
 */
export function parseFsStats(statOut: string, mountinfo: string | null): FsStats | null {
  const [magic, name, bsize, blocks, free, avail] = statOut.trim().split(/\s+/);
  const n = [bsize, blocks, free, avail].map(Number);
  if (magic === undefined || name === undefined || n.some((x) => !Number.isFinite(x))) return null;
  // mountinfo: "id parent major:minor root mountpoint options [optional...] - fstype source superoptions"
  let device = "";
  for (const line of (mountinfo ?? "").split("\n")) {
    const [pre, post] = line.split(" - ");
    if (pre?.split(" ")[4] === "/" && post) device = post.split(" ")[1] ?? device;
  }
  const [b, total, f, a] = n as [number, number, number, number];
  return { device, fstype: FS_TYPES[magic] ?? name, size: total * b, free: f * b, avail: a * b };
}

async function rootFilesystem(pid: number): Promise<FsStats | null> {
  const r = await runTool("stat", ["-f", "-c", "%t %T %S %b %f %a", `/proc/${pid}/root/`]).catch(() => null);
  if (!r || r.code !== 0) return null;
  return parseFsStats(r.stdout, await read(`/proc/${pid}/mountinfo`));
}

/** "0-3,6" → 5. */
export function countCpus(list: string): number {
  let n = 0;
  for (const part of list.split(",")) {
    const [a, b] = part.split("-").map(Number);
    if (a === undefined || Number.isNaN(a)) continue;
    n += b === undefined ? 1 : b - a + 1;
  }
  return n;
}

function navigatorCpus(): number {
  return navigator.hardwareConcurrency ?? 1;
}

/** Help texts and types of LXD's instance metrics. */
const INSTANCE_FAMILIES: [string, "counter" | "gauge", string][] = [
  ["lxd_cpu_seconds_total", "counter", "The total number of CPU time used in seconds."],
  ["lxd_cpu_effective_total", "gauge", "The total number of effective CPUs."],
  ["lxd_disk_read_bytes_total", "counter", "The total number of bytes read."],
  ["lxd_disk_reads_completed_total", "counter", "The total number of completed reads."],
  ["lxd_disk_written_bytes_total", "counter", "The total number of bytes written."],
  ["lxd_disk_writes_completed_total", "counter", "The total number of completed writes."],
  ["lxd_filesystem_avail_bytes", "gauge", "The number of available space in bytes."],
  ["lxd_filesystem_free_bytes", "gauge", "The number of free space in bytes."],
  ["lxd_filesystem_size_bytes", "gauge", "The size of the filesystem in bytes."],
  ...(["Active_anon", "Active", "Active_file", "Cached", "Dirty", "HugepagesFree", "HugepagesTotal"]
    .map((k) =>
      [`lxd_memory_${k}_bytes`, "gauge", `The amount of ${k} memory.`] as [string, "gauge", string]
    )),
  ...([
    "Inactive_anon",
    "Inactive",
    "Inactive_file",
    "Mapped",
    "MemAvailable",
    "MemFree",
    "MemTotal",
    "RSS",
    "Shmem",
    "Swap",
    "Unevictable",
    "Writeback",
  ].map((k) =>
    [`lxd_memory_${k}_bytes`, "gauge", `The amount of ${k} memory.`] as [string, "gauge", string]
  )),
  ["lxd_memory_OOM_kills_total", "counter", "The number of out of memory kills."],
  ["lxd_network_receive_bytes_total", "counter", "The amount of received bytes on a given interface."],
  ["lxd_network_receive_drop_total", "counter", "The amount of received dropped bytes on a given interface."],
  ["lxd_network_receive_errs_total", "counter", "The amount of received errors on a given interface."],
  ["lxd_network_receive_packets_total", "counter", "The amount of received packets on a given interface."],
  ["lxd_network_transmit_bytes_total", "counter", "The amount of transmitted bytes on a given interface."],
  [
    "lxd_network_transmit_drop_total",
    "counter",
    "The amount of transmitted dropped bytes on a given interface.",
  ],
  ["lxd_network_transmit_errs_total", "counter", "The amount of transmitted errors on a given interface."],
  [
    "lxd_network_transmit_packets_total",
    "counter",
    "The amount of transmitted packets on a given interface.",
  ],
  ["lxd_procs_total", "gauge", "The number of running processes."],
];

/** LXD's instance metrics of the given running containers. */
export async function instanceMetrics(running: RunningInstance[]): Promise<Family[]> {
  const samples = new Map<string, Sample[]>(INSTANCE_FAMILIES.map(([n]) => [n, []]));
  for (const i of running) await collectOne(i, (name, s) => samples.get(name)?.push(s));
  return INSTANCE_FAMILIES.filter(([n]) => samples.get(n)!.length > 0)
    .map(([n, type, help]) => family(n, type, help, samples.get(n)!));
}
