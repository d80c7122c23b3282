/**
 * LXD's expiry expressions ("3H", "1d 12H", "30M"): a number and a unit, several allowed.
 * Units: S seconds, M minutes, H hours, d days, w weeks, m months (30 d), y years (365 d).
 */
const UNIT_MS: Record<string, number> = {
  S: 1_000,
  M: 60_000,
  H: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  m: 30 * 86_400_000,
  y: 365 * 86_400_000,
};

/** Parses an expiry expression to milliseconds; throws "Invalid expiry expression" on bad text. */
export function parseExpiry(expr: string): number {
  const parts = expr.trim().split(/\s+/).filter((p) => p !== "");
  if (parts.length === 0) throw new Error("Invalid expiry expression");
  let total = 0;
  for (const p of parts) {
    const m = /^(\d+)([SMHdwmy])$/.exec(p);
    if (!m) throw new Error("Invalid expiry expression");
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
  }
  return total;
}

/** Formats a duration the way Go's time.Duration prints it ("1m30.5s", "250ms"). */
export function formatGoDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let s = ms / 1000;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const sec = `${Number(s.toFixed(3))}s`;
  if (h > 0) return `${h}h${m}m${sec}`;
  if (m > 0) return `${m}m${sec}`;
  return sec;
}
