/**
 * The wire encoding of Raft message batches: JSON, with byte arrays (snapshot data) as
 * base64 objects. A version field lets a newer member refuse what it cannot read.
 */

/** Version of the batch encoding. */
export const WIRE_VERSION = 1;

/** A batch as sent in one frame of the /internal/raft stream. */
export interface WireBatch<M> {
  v: number;
  /** Raft id of the sender. */
  from: number;
  messages: M[];
}

// The runtime's own base64 (Uint8Array.prototype.toBase64, Uint8Array.fromBase64): a fresh
// cluster's snapshot (~370 KB) took 12-19 ms to encode through String.fromCharCode and btoa,
// on the leader's event loop and on every join's critical path; natively ~0.3 ms.
function toBase64(b: Uint8Array): string {
  return b.toBase64();
}

function fromBase64(s: string): Uint8Array {
  return Uint8Array.fromBase64(s);
}

const withBytes = (_k: string, v: unknown) => v instanceof Uint8Array ? { $b64: toBase64(v) } : v;

/** Only a snapshot carries bytes (lib/raft's "snap" message). */
const hasBytes = (m: unknown) => (m as { type?: unknown } | null)?.type === "snap";

/**
 * Encodes a batch. A replacer (or a reviver) is called for every value of the batch, and nearly
 * every frame (appends, their answers, heartbeats) holds no bytes: those are written and read
 * without one, a few microseconds less per frame, of which a write costs its leader eight.
 */
export function encodeBatch<M>(from: number, messages: M[]): string {
  const b: WireBatch<M> = { v: WIRE_VERSION, from, messages };
  return JSON.stringify(b, messages.some(hasBytes) ? withBytes : undefined);
}

/** Decodes a batch; throws on another version or malformed text. */
export function decodeBatch<M>(text: string): WireBatch<M> {
  // Bytes are written as {"$b64": ...}: text without that key has none (text with it elsewhere,
  // escaped inside an entry's data, takes the slower path to the same result).
  const b = JSON.parse(
    text,
    !text.includes('"$b64"')
      ? undefined
      : (_k, v) =>
        v !== null && typeof v === "object" && typeof (v as { $b64?: unknown }).$b64 === "string" &&
          Object.keys(v).length === 1
          ? fromBase64((v as { $b64: string }).$b64)
          : v,
  ) as WireBatch<M>;
  if (b?.v !== WIRE_VERSION) {
    throw new Error(`Unsupported raft wire version ${b?.v}: this member speaks ${WIRE_VERSION}`);
  }
  if (!Array.isArray(b.messages)) throw new Error("Malformed raft batch: no messages");
  return b;
}
