import { etag, preconditionFailed } from "../../util/mod.ts";
import type { Ctx } from "../context.ts";

export { emptySync, sync } from "../response.ts";

/** Refuses a write whose If-Match does not match the object's current ETag (412, as LXD). */
export function preconditionCheck(c: Ctx, writable: unknown): void {
  const want = c.req.header("If-Match");
  if (!want) return;
  if (want.replace(/"/g, "") !== etag(writable)) throw preconditionFailed();
}

/** ?recursion=N as a number (0 when absent). */
export function recursionOf(c: Ctx): number {
  const n = Number(c.req.query("recursion") ?? "0");
  return Number.isFinite(n) ? n : 0;
}

/** The project a request names (?project=), "default" when it names none, as LXD. */
export function projectOf(c: Ctx): string {
  return c.req.query("project") || "default";
}
