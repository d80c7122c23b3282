/**
 * The route table, end to end: every route of lib/api/access.ts is called on a real member of a
 * two-member cluster by an untrusted caller, the cluster certificate, a restricted client of no
 * project, a restricted client of the default project, a client, the other member's own
 * certificate and the unix socket; each gets 403 exactly when the table says it may not call the
 * route, and never a 5xx. Bodies are malformed JSON, so that an allowed call is refused for its
 * input and changes nothing. Addresses 127.0.0.56-57.
 */
import assert from "node:assert/strict";
import {
  type Access,
  allowed,
  requestProject,
  ROUTE_ACCESS,
  WEBSOCKET_ACCESS,
} from "../../lib/api/access.ts";
import type { CallerKind, Identity } from "../../lib/api/context.ts";
import { UnixTransport } from "../../lib/client/mod.ts";
import { readKeyPair } from "../../lib/tls/mod.ts";
import { formCluster } from "../helpers/cluster.ts";
import { Caller, newCert, trust } from "../helpers/callers.ts";
import { tempDir } from "../helpers/member.ts";

const ADDRESSES = ["127.0.0.56", "127.0.0.57"];
const PARAMS: Record<string, string> = {
  name: "nx-trust",
  fp: "0000",
  id: "nx-trust",
  pool: "nx-trust",
  file: "nx",
};

/** Calls a member itself never gets from a test: they would stop it or make it leave. */
const SKIP: Record<string, string> = {
  "PUT /internal/shutdown": "stops the daemon",
  "POST /internal/cluster/left": "makes the member leave its cluster",
};

function identity(kind: CallerKind, projects: string[] = []): Identity {
  return {
    kind,
    trusted: kind !== "untrusted",
    protocol: "tls",
    fingerprint: "",
    address: "",
    certificate: null,
    projects,
    member: kind === "member" ? "m2" : null,
    joiner: null,
  };
}

Deno.test("every route answers each kind of caller as the access table says", async () => {
  await using tmp = await tempDir("trust-routes");
  const [m1, m2] = await formCluster(tmp.path, ADDRESSES);
  const callers: { label: string; id: Identity; caller: Caller | null }[] = [];
  try {
    const served = await Deno.readTextFile(`${m1!.dir}/cluster.crt`);
    const at = `${ADDRESSES[0]}:8443`;
    const [client, restricted, restrictedDefault, stranger] = await Promise.all(
      ["client", "restricted", "restricted-default", "stranger"].map((n) => newCert(n)),
    );
    await trust(m1!, "client", client!);
    await trust(m1!, "restricted", restricted!, { restricted: true, projects: [] });
    await trust(m1!, "restricted-default", restrictedDefault!, { restricted: true, projects: ["default"] });
    const m2Own = (await readKeyPair(m2!.dir, "server"))!;
    const clusterKey = (await readKeyPair(m1!.dir, "cluster"))!;
    callers.push(
      { label: "untrusted", id: identity("untrusted"), caller: new Caller(at, served, stranger) },
      { label: "cluster certificate", id: identity("untrusted"), caller: new Caller(at, served, clusterKey) },
      {
        label: "restricted, no project",
        id: identity("restricted"),
        caller: new Caller(at, served, restricted),
      },
      {
        label: "restricted, default",
        id: identity("restricted", ["default"]),
        caller: new Caller(at, served, restrictedDefault),
      },
      { label: "client", id: identity("client"), caller: new Caller(at, served, client) },
      { label: "member m2", id: identity("member"), caller: new Caller(at, served, m2Own) },
      { label: "unix socket", id: identity("unix"), caller: null },
    );
    const unix = new UnixTransport(m1!.socket);
    const problems: string[] = [];
    let sent = 0;
    for (const [route, access] of Object.entries(ROUTE_ACCESS)) {
      const [method, pattern] = route.split(" ") as [string, string];
      const path = pattern.replace(/:(\w+)/g, (_, p: string) => PARAMS[p] ?? "x");
      const body = ["POST", "PUT", "PATCH"].includes(method) ? '{"malformed": ' : undefined;
      // The project the request is about, as the member decides it (a project's own routes name it).
      const project = requestProject(new URL(`http://member${path}`));
      for (const { label, id, caller } of callers) {
        if (SKIP[route] && allowed(id, access as Access, project)) continue;
        const r = caller
          ? await caller.send(method, path, body)
          : await unix.request(method, path, body, body ? { "Content-Type": "application/json" } : {});
        sent++;
        const may = allowed(id, access as Access, project);
        if (r.status >= 500) problems.push(`${route} as ${label}: ${r.status} ${r.text.slice(0, 120)}`);
        else if (may && r.status === 403) problems.push(`${route} as ${label}: 403, the table lets it in`);
        else if (!may && r.status !== 403) {
          problems.push(`${route} as ${label}: ${r.status}, the table says 403`);
        }
      }
    }
    for (const [route, access] of Object.entries(WEBSOCKET_ACCESS)) {
      const path = route.split(" ")[1]!.replace(/:(\w+)/g, (_, p: string) => PARAMS[p] ?? "x");
      for (const { label, id, caller } of callers) {
        if (!caller) continue;
        const r = await caller.upgrade(path);
        r.ws?.close();
        sent++;
        const may = allowed(id, access, "default");
        // An allowed operation websocket still needs an operation: 404 for ours, which has none.
        if (!may && r.status !== 403) problems.push(`websocket ${route} as ${label}: ${r.status}, not 403`);
        if (may && (r.status === 403 || r.status >= 500)) {
          problems.push(`websocket ${route} as ${label}: ${r.status}`);
        }
      }
    }
    unix.close();
    console.log(
      `route table: ${sent} calls, ${Object.keys(ROUTE_ACCESS).length} routes, ${callers.length} callers`,
    );
    assert.deepEqual(problems, []);
    // Nothing of that changed the cluster: both members still answer as members.
    assert.equal(
      (await m1!.shoal(["cluster", "list", "--format", "csv"])).stdout.trim().split("\n").length,
      2,
    );
  } finally {
    for (const c of callers) c.caller?.close();
    await Promise.all([m1, m2].map((m) => m?.stop()));
  }
});
