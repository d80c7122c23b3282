/**
 * The liblxc lines of an instance's security: its id map (unprivileged, LXD's default) or, for
 * security.privileged=true, the devices cgroup LXD gives privileged containers; liblxc's default
 * seccomp policy for both; the extra /proc and /sys mounts of security.nesting. Kept apart from
 * the rest of the container's config (lxc.ts) so that each can change on its own.
 */
import { isTrue } from "./config.ts";
import { type IdmapEntry, lxcIdmapLines } from "./idmap.ts";

/** liblxc's own default policy: denies kexec, module loading, open_by_handle_at, umount -f. */
export const SECCOMP_PROFILE = "/usr/share/lxc/config/common.seccomp";

/** Devices a privileged container may use (LXD's list); any may be created (m), none other opened. */
const PRIVILEGED_DEVICES = [
  "b *:* m",
  "c *:* m",
  "c 136:* rwm",
  "c 1:3 rwm",
  "c 1:5 rwm",
  "c 1:7 rwm",
  "c 1:8 rwm",
  "c 1:9 rwm",
  "c 5:0 rwm",
  "c 5:1 rwm",
  "c 5:2 rwm",
  "c 10:229 rwm",
  "c 10:200 rwm",
];

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** What the security lines depend on. */
export interface SecurityInput {
  /** The expanded instance config. */
  config: Record<string, string>;
  /** The id map the container runs with; empty when privileged. */
  idmap: IdmapEntry[];
  /** The rootfs is mounted through the map (its files on disk are not shifted). */
  idmappedRootfs: boolean;
  cgroup: "v1" | "v2";
}

/** The lines, in the order liblxc reads them. */
export function securityLines(i: SecurityInput): string[] {
  const lines: string[] = [];
  if (i.idmap.length > 0) {
    lines.push(...lxcIdmapLines(i.idmap));
    if (i.idmappedRootfs) lines.push("lxc.rootfs.options = idmap=container");
  } else if (i.cgroup === "v2" || exists("/sys/fs/cgroup/devices")) {
    // A user namespace keeps an unprivileged container from opening host devices; a privileged
    // one needs the devices cgroup for that.
    const key = i.cgroup === "v2" ? "lxc.cgroup2.devices" : "lxc.cgroup.devices";
    lines.push(`${key}.deny = a`, ...PRIVILEGED_DEVICES.map((d) => `${key}.allow = ${d}`));
  }
  if (exists(SECCOMP_PROFILE)) lines.push(`lxc.seccomp.profile = ${SECCOMP_PROFILE}`);
  if (isTrue(i.config["security.nesting"])) {
    // As LXD: spare /proc and /sys, so that a nested container manager can mount its own.
    lines.push(
      "lxc.mount.entry = proc dev/.lxc/proc proc create=dir,optional 0 0",
      "lxc.mount.entry = sys dev/.lxc/sys sysfs create=dir,optional 0 0",
    );
  }
  return lines;
}

/**
 * Bind mounts of disk devices, mounted through the container's id map where the kernel can (as
 * LXD does), so that an unprivileged container's root owns what the host's root owns there
 * instead of seeing it as nobody's. Privileged containers and other lines are left as they are.
 */
export async function idmapMountEntries(
  lines: string[],
  idmap: IdmapEntry[],
  idmapped: (hostPath: string) => Promise<boolean>,
): Promise<string[]> {
  if (idmap.length === 0) return lines;
  const out: string[] = [];
  for (const line of lines) {
    const m = /^lxc\.mount\.entry = (\S+) (\S+) (\S+) (\S+)( .*)?$/.exec(line);
    if (m && m[4]!.split(",").includes("bind") && await idmapped(m[1]!).catch(() => false)) {
      out.push(`lxc.mount.entry = ${m[1]} ${m[2]} ${m[3]} ${m[4]},idmap=container${m[5] ?? ""}`);
    } else out.push(line);
  }
  return out;
}
