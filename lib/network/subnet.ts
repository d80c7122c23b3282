/**
 * IPv4 arithmetic for managed bridges: parsing `ipv4.address` (gateway/prefix), the DHCP range,
 * and picking an unused private /24 for `ipv4.address=auto` as LXD does. Pure: the routes in use
 * are passed in, and randomness comes from the caller.
 */

/** An IPv4 address with its prefix, as `ipv4.address` holds it (the gateway's address). */
export interface Cidr4 {
  address: number;
  prefix: number;
}

/** Parses a dotted quad; null when it is not one. */
export function parseIp4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function formatIp4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** Parses "A.B.C.D/N"; null when it is not one. */
export function parseCidr4(s: string): Cidr4 | null {
  const [a, p, ...rest] = s.trim().split("/");
  if (rest.length > 0 || a === undefined || p === undefined || !/^\d{1,2}$/.test(p)) return null;
  const address = parseIp4(a);
  const prefix = Number(p);
  if (address === null || prefix > 32) return null;
  return { address, prefix };
}

export function formatCidr4(c: Cidr4): string {
  return `${formatIp4(c.address)}/${c.prefix}`;
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** The network address of a CIDR (host bits cleared). */
export function networkOf(c: Cidr4): number {
  return (c.address & mask(c.prefix)) >>> 0;
}

/** Whether two CIDRs share any address. */
export function overlaps(a: Cidr4, b: Cidr4): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.address & mask(p)) >>> 0) === ((b.address & mask(p)) >>> 0);
}

/** Whether an address lies inside a CIDR. */
export function contains(c: Cidr4, ip: number): boolean {
  return ((ip & mask(c.prefix)) >>> 0) === networkOf(c);
}

/**
 * Why a bridge's `ipv4.address` cannot be used, or null: it must be a host address (not the
 * network or broadcast address) of a prefix that leaves room for DHCP clients.
 */
export function gatewayProblem(value: string): string | null {
  const c = parseCidr4(value);
  if (!c) {
    return `Invalid value for network "ipv4.address": "${value}" is not an IPv4 address in CIDR notation`;
  }
  if (c.prefix > 30 || c.prefix < 8) {
    return `Invalid value for network "ipv4.address": the prefix must be between 8 and 30, not ${c.prefix}`;
  }
  const net = networkOf(c);
  const broadcast = (net | ~mask(c.prefix)) >>> 0;
  if (c.address === net || c.address === broadcast) {
    return `Invalid value for network "ipv4.address": "${value}" is the network's own or broadcast address, not a host address`;
  }
  return null;
}

/** The DHCP range of a gateway CIDR: every host address but the gateway's side, as LXD's default. */
export function dhcpRange(c: Cidr4): { first: string; last: string } {
  const net = networkOf(c);
  const broadcast = (net | ~mask(c.prefix)) >>> 0;
  // LXD starts after the gateway when it is the first host, else at the first host.
  const first = c.address === net + 1 ? net + 2 : net + 1;
  const last = c.address === broadcast - 1 ? broadcast - 2 : broadcast - 1;
  return { first: formatIp4(first), last: formatIp4(last) };
}

/**
 * Picks an unused 10.X.Y.1/24, as LXD's `ipv4.address=auto` does (random X and Y, retried), where
 * nothing in `used` overlaps. `random()` returns [0, 1). Null after `tries` attempts.
 */
export function pickSubnet(used: Cidr4[], random: () => number, tries = 100): Cidr4 | null {
  for (let i = 0; i < tries; i++) {
    const x = Math.floor(random() * 256);
    const y = Math.floor(random() * 256);
    const candidate = { address: ((10 << 24) >>> 0) + (x << 16) + (y << 8) + 1, prefix: 24 };
    if (!used.some((u) => overlaps(u, candidate))) return candidate;
  }
  return null;
}
