/**
 * A simulator worker: asks main.ts for seeds one at a time and answers with each result, so
 * that seeds spread over the cores while every seed still runs alone and deterministically.
 * @module
 */
/// <reference lib="deno.worker" />
import { runSeed, type SimOptions } from "./sim.ts";

export type ToWorker = SimOptions | { stop: true };

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  const msg = e.data;
  if ("stop" in msg) return self.close();
  const result = await runSeed(msg);
  self.postMessage(result);
};
self.postMessage({ ready: true });
