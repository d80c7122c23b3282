/**
 * The id map of unprivileged containers, as LXD allocates it: root's ranges in /etc/subuid and
 * /etc/subgid, else LXD's default range (host ids 1000000 up, 1000000000 of them). Every
 * unprivileged container gets the whole range (LXD's default, security.idmap.isolated=false),
 * so container root is host uid 1000000 and can own nothing of the host's.
 */

/** One range of a map, in LXD's JSON shape (the volatile.idmap.* keys). */
export interface IdmapEntry {
  Isuid: boolean;
  Isgid: boolean;
  Hostid: number;
  Nsid: number;
  Maprange: number;
}

/** LXD's range when /etc/subuid or /etc/subgid has no entry for root. */
export const DEFAULT_HOST_ID = 1_000_000;
export const DEFAULT_RANGE = 1_000_000_000;

/** root's ranges in a subid file's text ("root:100000:65536" lines); empty when none. */
export function subIdRanges(text: string, user = "root"): { start: number; count: number }[] {
  const out: { start: number; count: number }[] = [];
  for (const line of text.split("\n")) {
    const [name, start, count] = line.trim().split(":");
    if (name !== user || !/^\d+$/.test(start ?? "") || !/^\d+$/.test(count ?? "")) continue;
    if (Number(count) > 0) out.push({ start: Number(start), count: Number(count) });
  }
  return out;
}

function readText(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/**
 * The map every unprivileged container gets here: root's subordinate ranges one after the
 * other from container id 0, else LXD's default range; uids first, then gids, as LXD lists them.
 */
export function defaultIdmap(
  subuid = readText("/etc/subuid"),
  subgid = readText("/etc/subgid"),
): IdmapEntry[] {
  const side = (text: string, uid: boolean): IdmapEntry[] => {
    const ranges = subIdRanges(text);
    if (ranges.length === 0) ranges.push({ start: DEFAULT_HOST_ID, count: DEFAULT_RANGE });
    let ns = 0;
    return ranges.map((r) => {
      const e = { Isuid: uid, Isgid: !uid, Hostid: r.start, Nsid: ns, Maprange: r.count };
      ns += r.count;
      return e;
    });
  };
  return [...side(subuid, true), ...side(subgid, false)];
}

/** The map of an instance: none (host ids) when privileged. */
export function idmapFor(privileged: boolean): IdmapEntry[] {
  return privileged ? [] : defaultIdmap();
}

/** The JSON LXD stores in volatile.idmap.next/current and volatile.last_state.idmap. */
export function idmapJSON(map: IdmapEntry[]): string {
  return JSON.stringify(map.map((e) => ({
    Isuid: e.Isuid,
    Isgid: e.Isgid,
    Hostid: e.Hostid,
    Nsid: e.Nsid,
    Maprange: e.Maprange,
  })));
}

/** Reads a stored map; an absent, empty or unreadable value is no map (host ids). */
export function parseIdmap(v: string | undefined): IdmapEntry[] {
  if (!v) return [];
  try {
    const a = JSON.parse(v);
    if (!Array.isArray(a)) return [];
    return a.filter((e) =>
      e && typeof e.Hostid === "number" && typeof e.Nsid === "number" && typeof e.Maprange === "number"
    ).map((e) => ({
      Isuid: e.Isuid === true,
      Isgid: e.Isgid === true,
      Hostid: e.Hostid,
      Nsid: e.Nsid,
      Maprange: e.Maprange,
    }));
  } catch {
    return [];
  }
}

/** liblxc's lines for a map (`lxc.idmap = u 0 1000000 1000000000`). */
export function lxcIdmapLines(map: IdmapEntry[]): string[] {
  const out: string[] = [];
  for (const e of map) {
    if (e.Isuid) out.push(`lxc.idmap = u ${e.Nsid} ${e.Hostid} ${e.Maprange}`);
    if (e.Isgid) out.push(`lxc.idmap = g ${e.Nsid} ${e.Hostid} ${e.Maprange}`);
  }
  return out;
}

/** A container id seen from the host (-1 when the map does not cover it). */
export function toHost(map: IdmapEntry[], id: number, uid: boolean): number {
  if (map.length === 0) return id;
  for (const e of map) {
    if ((uid ? e.Isuid : e.Isgid) && id >= e.Nsid && id < e.Nsid + e.Maprange) return e.Hostid + id - e.Nsid;
  }
  return -1;
}

/** A host id seen from the container (-1 when the map does not cover it: shown as nobody). */
export function toContainer(map: IdmapEntry[], id: number, uid: boolean): number {
  if (map.length === 0) return id;
  for (const e of map) {
    if ((uid ? e.Isuid : e.Isgid) && id >= e.Hostid && id < e.Hostid + e.Maprange) {
      return e.Nsid + id - e.Hostid;
    }
  }
  return -1;
}

/** Whether two maps are the same (the on-disk one needs no change). */
export function sameIdmap(a: IdmapEntry[], b: IdmapEntry[]): boolean {
  return idmapJSON(a) === idmapJSON(b);
}
