/** A promise with its resolve and reject functions, for waiters resolved from elsewhere. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
}

/** Creates a Deferred. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

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
