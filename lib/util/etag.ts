import { createHash } from "node:crypto";

/**
 * LXD-style ETag of a value: SHA-256 of its JSON. Synchronous, so that a transaction can check
 * an If-Match against the state it runs on.
 */
export function etag(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex");
}
