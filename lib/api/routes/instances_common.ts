import { preconditionFailed } from "../../util/mod.ts";
import type { Ctx } from "../context.ts";
import { etagOf } from "../response.ts";

export { emptySync, etagOf, sync } from "../response.ts";

/** Refuses a write whose If-Match does not match the object's current ETag (412, as LXD). */
export async function preconditionCheck(c: Ctx, writable: unknown): Promise<void> {
  const want = c.req.header("If-Match");
  if (!want) return;
  if (want.replace(/"/g, "") !== await etagOf(writable)) throw preconditionFailed();
}

/** ?recursion=N as a number (0 when absent). */
export function recursionOf(c: Ctx): number {
  const n = Number(c.req.query("recursion") ?? "0");
  return Number.isFinite(n) ? n : 0;
}
