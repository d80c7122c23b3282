/**
 * A member whose disk is full must stop serving the database cleanly and come back by itself
 * once space is freed (issue 16, as dqlite#309 asks: never a corrupt log). These two helpers
 * tell a full disk from other failures, and whether space is back.
 */

/** SQLite's SQLITE_FULL, or the OS's ENOSPC, anywhere in the error. */
export function isDiskFull(e: unknown): boolean {
  const code = (e as { errcode?: unknown } | null)?.errcode;
  if (typeof code === "number" && (code & 0xff) === 13) return true;
  const msg = e instanceof Error ? e.message : String(e);
  return /database or disk is full|No space left on device|ENOSPC|os error 28/i.test(msg);
}

/**
 * Whether `dir` takes `bytes` more now: writes them to a probe file, syncs it and removes it.
 * A write that fits is what the database needs to resume; a free-space figure could lie (a
 * quota, reserved blocks).
 */
export function hasSpace(dir: string, bytes = 1 << 20): boolean {
  const probe = `${dir}/.space-probe`;
  try {
    const f = Deno.openSync(probe, { create: true, write: true, truncate: true });
    try {
      const chunk = new Uint8Array(64 * 1024);
      for (let n = 0; n < bytes; n += chunk.length) f.writeSync(chunk);
      f.syncSync();
    } finally {
      f.close();
    }
    return true;
  } catch {
    return false;
  } finally {
    try {
      Deno.removeSync(probe);
    } catch { /* never made */ }
  }
}
