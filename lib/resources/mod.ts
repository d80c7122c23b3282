/**
 * What a member has (LXD's GET /1.0/resources and a pool's resources): CPUs and memory from
 * /proc, the space of a filesystem from statfs. Parsers are pure and tested; readers read this
 * machine.
 * @module
 */
import { runTool } from "../util/mod.ts";

/** One CPU thread as LXD lists it. */
export interface CpuThread {
  id: number;
  numa_node: number;
  thread: number;
  online: boolean;
  isolated: boolean;
}

/** LXD's ResourcesCPU (the fields a client reads). */
export interface CpuResources {
  architecture: string;
  sockets: {
    name: string;
    vendor: string;
    socket: number;
    cache: unknown[];
    cores: { core: number; die: number; threads: CpuThread[]; frequency: number }[];
    frequency: number;
    frequency_minimum: number;
    frequency_turbo: number;
  }[];
  total: number;
}

/** LXD's ResourcesMemory. */
export interface MemoryResources {
  nodes: unknown[];
  hugepages_total: number;
  hugepages_used: number;
  hugepages_size: number;
  used: number;
  total: number;
}

/** Parses /proc/cpuinfo into LXD's socket/core/thread tree. */
export function parseCpuinfo(text: string, architecture: string): CpuResources {
  const blocks = text.split(/\n\s*\n/).filter((b) => /^processor\s*:/m.test(b));
  const sockets = new Map<number, CpuResources["sockets"][number]>();
  for (const b of blocks) {
    const field = (k: string) => new RegExp(`^${k}\\s*:\\s*(.*)$`, "m").exec(b)?.[1]?.trim() ?? "";
    const id = Number(field("processor"));
    const socket = Number(field("physical id") || "0");
    const coreId = Number(field("core id") || String(id));
    const mhz = Math.round(Number(field("cpu MHz") || "0"));
    let s = sockets.get(socket);
    if (!s) {
      s = {
        name: field("model name"),
        vendor: field("vendor_id"),
        socket,
        cache: [],
        cores: [],
        frequency: mhz,
        frequency_minimum: 0,
        frequency_turbo: 0,
      };
      sockets.set(socket, s);
    }
    let core = s.cores.find((c) => c.core === coreId);
    if (!core) {
      core = { core: coreId, die: 0, threads: [], frequency: mhz };
      s.cores.push(core);
    }
    core.threads.push({ id, numa_node: 0, thread: core.threads.length, online: true, isolated: false });
  }
  return { architecture, sockets: [...sockets.values()], total: blocks.length };
}

/** Parses /proc/meminfo: total and used (total minus available) in bytes. */
export function parseMeminfo(text: string): MemoryResources {
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s*(\\d+)`, "m").exec(text)?.[1] ?? "0") * 1024;
  const total = kb("MemTotal");
  const available = kb("MemAvailable") || kb("MemFree");
  const hugeSize = kb("Hugepagesize");
  const hugeTotal = Number(/^HugePages_Total:\s*(\d+)/m.exec(text)?.[1] ?? "0");
  const hugeFree = Number(/^HugePages_Free:\s*(\d+)/m.exec(text)?.[1] ?? "0");
  return {
    nodes: [],
    hugepages_total: hugeTotal * hugeSize,
    hugepages_used: (hugeTotal - hugeFree) * hugeSize,
    hugepages_size: hugeSize,
    used: total - available,
    total,
  };
}

/** This machine's resources, as LXD's GET /1.0/resources shows them. */
export async function machineResources(architecture: string): Promise<Record<string, unknown>> {
  const [cpuinfo, meminfo] = await Promise.all([
    Deno.readTextFile("/proc/cpuinfo").catch(() => ""),
    Deno.readTextFile("/proc/meminfo").catch(() => ""),
  ]);
  return {
    cpu: parseCpuinfo(cpuinfo, architecture),
    memory: parseMeminfo(meminfo),
    gpu: { cards: [], total: 0 },
    network: { cards: [], total: 0 },
    storage: { disks: [], total: 0 },
    usb: { devices: [], total: 0 },
    pci: { devices: [], total: 0 },
    system: {
      uuid: "",
      vendor: "",
      product: "",
      family: "",
      version: "",
      sku: "",
      serial: "",
      type: "unknown",
      firmware: null,
      chassis: null,
      motherboard: null,
    },
  };
}

/** LXD's ResourcesStoragePool: space and inodes of the filesystem that holds path. */
export interface PoolResources {
  space: { used: number; total: number };
  inodes: { used: number; total: number };
}

/** Parses `stat -f -c "%S %b %f %a %c %d"`: block size, blocks, free, available, inodes, free inodes. */
export function parseStatfs(out: string): PoolResources {
  const [bsize, blocks, free, , files, ffree] = out.trim().split(/\s+/).map(Number) as number[];
  if ([bsize, blocks, free, files, ffree].some((n) => n === undefined || !Number.isFinite(n))) {
    throw new Error(`Unexpected statfs output: ${out.trim()}`);
  }
  return {
    space: { used: (blocks! - free!) * bsize!, total: blocks! * bsize! },
    inodes: { used: files! - ffree!, total: files! },
  };
}

/** The resources of the filesystem that holds path. */
export async function pathResources(path: string): Promise<PoolResources> {
  const r = await runTool("stat", ["-f", "-c", "%S %b %f %a %c %d", path]);
  if (r.code !== 0) throw new Error(`Failed to read the space of ${path}: ${r.stderr.trim()}`);
  return parseStatfs(r.stdout);
}
