/**
 * Generates one key pair per message, in a worker of its own (lib/tls/mod.ts): the X.509
 * library it loads goes away with the worker instead of staying in a member for good.
 * @module
 */
import { generateKeyPair } from "./generate.ts";
import type { CertOptions } from "./pem.ts";

const scope = self as unknown as {
  onmessage: (e: MessageEvent<CertOptions>) => void;
  postMessage: (m: unknown) => void;
};
scope.onmessage = async (e) => {
  try {
    scope.postMessage({ pair: await generateKeyPair(e.data) });
  } catch (err) {
    scope.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
};
