import assert from "node:assert/strict";
import type { CertCaller } from "../db/mod.ts";
import { authenticate, forwardedCaller } from "./auth.ts";
import type { ServerContext } from "./context.ts";

const FP = (c: string) => c.repeat(64);

/** A member's view of its trust store, without a database: fingerprint → standing. */
function context(store: Record<string, CertCaller>, clustered = true): ServerContext {
  return {
    clustered: () => clustered,
    db: { readStale: (fn: (tx: unknown) => unknown) => fn({ get: () => undefined, query: () => [] }) },
  } as unknown as ServerContext & { store: typeof store };
}

Deno.test("callers: a server certificate is a member's only while its member exists", () => {
  const store: Record<string, CertCaller> = {
    [FP("a")]: { type: "server", name: "m2", restricted: false, projects: [], member: "m2" },
    [FP("b")]: { type: "server", name: "gone", restricted: false, projects: [], member: null },
    [FP("c")]: { type: "client", name: "u", restricted: false, projects: [], member: null },
    [FP("d")]: { type: "client", name: "r", restricted: true, projects: ["default"], member: null },
  };
  const ctx = context(store);
  // certificateCaller runs one SELECT: answer it from the store.
  (ctx as unknown as { db: unknown }).db = {
    readStale: (fn: (tx: unknown) => unknown) =>
      fn({
        get: (_sql: string, fp: string) => {
          const c = store[fp];
          return c
            ? {
              id: 1,
              fingerprint: fp,
              type: { client: 1, server: 2, metrics: 3 }[c.type],
              name: c.name,
              certificate: "",
              restricted: c.restricted ? 1 : 0,
              member: c.member,
            }
            : undefined;
        },
        query: (_sql: string) => (store[FP("d")]!.projects.map((name) => ({ name }))),
      }),
  };
  const tls = (fp: string) =>
    authenticate(ctx, { transport: "tls", address: "x:1", fingerprint: fp, certificate: null });
  assert.equal(tls(FP("a")).kind, "member");
  assert.equal(tls(FP("b")).kind, "untrusted");
  assert.equal(tls(FP("b")).joiner, "gone");
  assert.equal(tls(FP("c")).kind, "client");
  assert.deepEqual([tls(FP("d")).kind, tls(FP("d")).projects], ["restricted", ["default"]]);
  assert.equal(tls(FP("e")).kind, "untrusted");
  assert.equal(authenticate(ctx, { transport: "unix" }).kind, "unix");
  // A forwarded request is its original caller's, as the member said.
  const member = tls(FP("a"));
  assert.equal(forwardedCaller(ctx, member, `tls ${FP("c")} 10.0.0.1:5`).kind, "client");
  assert.equal(forwardedCaller(ctx, member, `tls ${FP("d")} 10.0.0.1:5`).kind, "restricted");
  assert.equal(forwardedCaller(ctx, member, "unix").kind, "unix");
  assert.equal(forwardedCaller(ctx, member, "garbage").kind, "untrusted");
  // Standalone, no server certificate makes a member.
  (ctx as unknown as { clustered: () => boolean }).clustered = () => false;
  assert.equal(tls(FP("a")).kind, "untrusted");
});
