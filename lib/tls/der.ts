/**
 * The little DER (X.690) a self-signed certificate needs, written out by hand: a member makes one
 * certificate in its life, and the X.509 library that did it (with its ASN.1 schema machinery)
 * cost 0.2 s to load and some MiB of heap for that one use.
 * @module
 */

/** Tag, length and contents: one DER element. */
export function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const n = contents.reduce((s, c) => s + c.length, 0);
  const len: number[] = [];
  if (n < 0x80) len.push(n);
  else {
    for (let v = n; v > 0; v = Math.floor(v / 256)) len.unshift(v & 0xff);
    len.unshift(0x80 | len.length);
  }
  const out = new Uint8Array(1 + len.length + n);
  out[0] = tag;
  out.set(len, 1);
  let at = 1 + len.length;
  for (const c of contents) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export const sequence = (...items: Uint8Array[]) => tlv(0x30, ...items);
export const set = (...items: Uint8Array[]) => tlv(0x31, ...items);
export const octetString = (b: Uint8Array) => tlv(0x04, b);
export const utf8String = (s: string) => tlv(0x0c, new TextEncoder().encode(s));
export const booleanTrue = () => tlv(0x01, Uint8Array.of(0xff));
/** Context-specific constructed [n] (EXPLICIT tagging). */
export const explicit = (n: number, inner: Uint8Array) => tlv(0xa0 | n, inner);
/** Context-specific primitive [n] (IMPLICIT tagging of a primitive type). */
export const implicit = (n: number, bytes: Uint8Array) => tlv(0x80 | n, bytes);

/** A BIT STRING of whole bytes, or of `unused` trailing bits left out of the last one. */
export function bitString(b: Uint8Array, unused = 0): Uint8Array {
  const c = new Uint8Array(b.length + 1);
  c[0] = unused;
  c.set(b, 1);
  return tlv(0x03, c);
}

/** A non-negative INTEGER from its big-endian magnitude (leading zeros dropped, a 0 added when the top bit is set). */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  return tlv(0x02, ...(m[0]! & 0x80 ? [Uint8Array.of(0), m] : [m]));
}

export function smallInteger(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new RangeError(`DER integer out of range: ${n}`);
  const b: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) b.unshift(v & 0xff);
  return unsignedInteger(Uint8Array.from(b.length ? b : [0]));
}

/** An OBJECT IDENTIFIER from its dotted form. */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isInteger(a) || a < 0)) {
    throw new Error(`not an OID: ${dotted}`);
  }
  const out = [40 * arcs[0]! + arcs[1]!];
  for (const a of arcs.slice(2)) {
    const groups: number[] = [a & 0x7f];
    for (let v = Math.floor(a / 128); v > 0; v = Math.floor(v / 128)) groups.unshift(0x80 | (v & 0x7f));
    out.push(...groups);
  }
  return tlv(0x06, Uint8Array.from(out));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, both to the second in UTC. */
export function time(d: Date): Uint8Array {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const y = d.getUTCFullYear();
  const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${
    p(d.getUTCSeconds())
  }Z`;
  const enc = new TextEncoder();
  return y >= 1950 && y < 2050
    ? tlv(0x17, enc.encode(`${p(y % 100)}${rest}`))
    : tlv(0x18, enc.encode(`${p(y, 4)}${rest}`));
}

/** An IPv4 or IPv6 address as the 4 or 16 bytes of a SAN iPAddress; throws on anything else. */
export function ipBytes(ip: string): Uint8Array {
  const v4 = (s: string) => {
    const parts = s.split(".");
    if (parts.length !== 4 || parts.some((x) => !/^\d{1,3}$/.test(x) || Number(x) > 255)) return null;
    return parts.map(Number);
  };
  const four = v4(ip);
  if (four) return Uint8Array.from(four);
  const halves = ip.replace(/^\[|\]$/g, "").split("::");
  if (halves.length > 2) throw new Error(`not an IP address: ${ip}`);
  const words = (s: string): number[] => {
    if (s === "") return [];
    const out: number[] = [];
    const parts = s.split(":");
    parts.forEach((w, i) => {
      const tail = i === parts.length - 1 ? v4(w) : null;
      if (tail) out.push((tail[0]! << 8) | tail[1]!, (tail[2]! << 8) | tail[3]!);
      else if (/^[0-9a-f]{1,4}$/i.test(w)) out.push(parseInt(w, 16));
      else throw new Error(`not an IP address: ${ip}`);
    });
    return out;
  };
  const head = words(halves[0]!), tail = halves.length === 2 ? words(halves[1]!) : [];
  const gap = 8 - head.length - tail.length;
  if (halves.length === 2 ? gap < 1 : gap !== 0) throw new Error(`not an IP address: ${ip}`);
  const all = [...head, ...new Array(halves.length === 2 ? gap : 0).fill(0), ...tail];
  return Uint8Array.from(all.flatMap((w) => [w >> 8, w & 0xff]));
}

/** WebCrypto's ECDSA signature (r‖s, each the curve's size) as X.509 wants it: SEQUENCE { r, s }. */
export function ecdsaSignatureToDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  return sequence(unsignedInteger(raw.subarray(0, half)), unsignedInteger(raw.subarray(half)));
}
