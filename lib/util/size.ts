/**
 * Byte sizes as LXD writes them ("512MiB", "1GB", "1024"): decimal and binary units, B default.
 * Returns null for anything else. (units.ParseByteSizeString, without the percentages that only
 * some keys take.)
 */
export function parseSize(v: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(B|kB|KB|MB|GB|TB|PB|KiB|MiB|GiB|TiB|PiB)?$/.exec(v.trim());
  if (!m) return null;
  const units: Record<string, number> = {
    B: 1,
    kB: 1e3,
    KB: 1e3,
    MB: 1e6,
    GB: 1e9,
    TB: 1e12,
    PB: 1e15,
    KiB: 1024,
    MiB: 1024 ** 2,
    GiB: 1024 ** 3,
    TiB: 1024 ** 4,
    PiB: 1024 ** 5,
  };
  return Math.floor(Number(m[1]) * units[m[2] ?? "B"]!);
}

/** A byte count as LXD's units.GetByteSizeString(n, 2) writes it: 12.34MB. */
export function byteSize(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return i === 0 ? `${Math.round(n)}B` : `${n.toFixed(2)}${units[i]}`;
}
