/** Resolves after ms milliseconds, or at once when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** A timer handle, whichever typing (Deno's number or Node's Timeout) is in scope. */
export type TimerId = ReturnType<typeof setTimeout>;

/** Lets the process exit while this timer is pending. */
export function unrefTimer(t: TimerId): void {
  if (typeof t === "number") Deno.unrefTimer(t);
  else (t as { unref?: () => void }).unref?.();
}
