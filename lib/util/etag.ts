import type NodeCrypto from "node:crypto";

let createHash: typeof NodeCrypto.createHash | undefined;

/**
 * LXD-style ETag of a value: SHA-256 of its JSON. Synchronous, so that a transaction can check
 * an If-Match against the state it runs on. node:crypto is fetched on first use, not imported:
 * every client command loads lib/util, and loading node:crypto costs its start ~3 ms for nothing.
 */
export function etag(value: unknown): string {
  createHash ??= (process.getBuiltinModule("node:crypto") as typeof NodeCrypto).createHash;
  return createHash("sha256").update(JSON.stringify(value)).digest("hex");
}
