/**
 * Only current members speak for the cluster (issue 11's findings, each failing on the code
 * before it). A removed member's keys, its own and its copy of the cluster's, open no /internal
 * route and no Raft stream on any member; the cluster certificate opens nothing by itself;
 * accept needs the secret the joiner was trusted with; Raft frames that claim another member's
 * id, or do not parse, close the stream and change nothing (a seeded fuzz of forged, malformed
 * and huge frames). Addresses 127.0.0.58-60.
 */
import assert from "node:assert/strict";
import { ROUTE_ACCESS } from "../../lib/api/access.ts";
import { fingerprint, type KeyPair, readKeyPair } from "../../lib/tls/mod.ts";
import { encodeBatch } from "../../lib/transport/codec.ts";
import { formCluster } from "../helpers/cluster.ts";
import { Caller, newCert } from "../helpers/callers.ts";
import { type Member, tempDir, waitFor } from "../helpers/member.ts";
import { seededRng } from "../../lib/util/rng.ts";

const ADDRESSES = ["127.0.0.58", "127.0.0.59", "127.0.0.60"];

async function raftStatus(m: Member): Promise<{ id: number; term: number; lead: number; commit: number }> {
  const r = await m.client().request<{ status: { id: number; term: number; lead: number; commit: number } }>(
    "GET",
    "/internal/raft/status",
  );
  return r.metadata.status;
}

/** Sends one frame on a new Raft stream; the close code the member answered with (0: none in 5 s). */
async function frame(c: Caller, data: string | Uint8Array): Promise<number> {
  const { status, ws } = await c.upgrade("/internal/raft");
  if (status !== 101 || !ws) return -status;
  return await new Promise<number>((resolve) => {
    const t = setTimeout(() => {
      ws.terminate();
      resolve(0);
    }, 5_000);
    ws.on("close", (code: number) => {
      clearTimeout(t);
      resolve(code);
    });
    ws.send(data);
  });
}

Deno.test("only current members speak for the cluster", async (t) => {
  await using tmp = await tempDir("trust-cluster");
  const ms = await formCluster(tmp.path, ADDRESSES);
  const [m1, m2, m3] = ms as [Member, Member, Member];
  const callers: Caller[] = [];
  const caller = (address: string, served: string, cert: KeyPair) => {
    const c = new Caller(address, served, cert);
    callers.push(c);
    return c;
  };
  try {
    const served = await Deno.readTextFile(`${m1.dir}/cluster.crt`);
    const old = {
      own: (await readKeyPair(m3.dir, "server"))!,
      cluster: (await readKeyPair(m3.dir, "cluster"))!,
    };
    const at = [`${ADDRESSES[0]}:8443`, `${ADDRESSES[1]}:8443`];

    await t.step("the cluster certificate alone opens nothing", async () => {
      for (const a of at) {
        const c = caller(a, served, old.cluster);
        assert.equal((await c.send("PUT", "/internal/heartbeat", "{}")).status, 403);
        assert.equal((await c.upgrade("/internal/raft")).status, 403);
        assert.equal((await c.send("GET", "/1.0/instances")).status, 403);
      }
    });

    await t.step(
      "a removed member's keys, both of them, open no /internal route and no Raft stream",
      async () => {
        const rm = await m1.shoal(["cluster", "remove", "m3"]);
        assert.equal(rm.code, 0, rm.stderr);
        const internal = Object.keys(ROUTE_ACCESS).filter((r) => r.split(" ")[1]!.startsWith("/internal"));
        const open: string[] = [];
        for (const a of at) {
          for (const [which, key] of Object.entries(old)) {
            const c = caller(a, served, key);
            // Revocation is replicated: allow each member the time to apply it, then nothing opens.
            await waitFor(
              `${a} refuses m3's ${which} key`,
              async () => (await c.send("GET", "/internal/raft/status")).status === 403,
            );
            for (const route of internal) {
              const [method, path] = route.split(" ") as [string, string];
              const body = ["POST", "PUT"].includes(method) ? "{}" : undefined;
              const r = await c.send(method, path, body);
              if (r.status !== 403) {
                open.push(`${route} on ${a} with m3's ${which} key: ${r.status}`);
              }
            }
            const ws = await c.upgrade("/internal/raft");
            if (ws.status !== 403) open.push(`/internal/raft on ${a} with m3's ${which} key: ${ws.status}`);
            ws.ws?.close();
            // What the finding did: accept any name, and get the cluster's key back.
            const acc = await c.send(
              "POST",
              "/internal/cluster/accept",
              JSON.stringify({ name: "evil", address: "127.0.0.99:8443" }),
            );
            assert.equal(acc.status, 403);
            assert.doesNotMatch(acc.text, /PRIVATE KEY/);
          }
        }
        assert.deepEqual(open, []);
        assert.equal(
          (await m1.shoal(["cluster", "list", "--format", "csv"])).stdout.trim().split("\n").length,
          2,
        );
      },
    );

    await t.step("accept needs the secret the joiner was trusted with, for its name, once", async () => {
      await m1.shoal(["config", "set", "core.trust_password", "sesame"]);
      const joiner = await newCert("joiner");
      const c = caller(at[0]!, served, joiner);
      const req = (name: string, secret?: string) =>
        JSON.stringify({
          name,
          address: "127.0.0.99:8443",
          arch: "x86_64",
          schema: 0,
          apiExtensions: 0,
          version: "",
          secret,
        });
      // Not trusted at all: refused.
      assert.equal((await c.send("POST", "/internal/cluster/accept", req("j1", "sesame"))).status, 403);
      // Trusted as "j1" with the password (its own certificate): accept wants the name and secret.
      const trusted = await c.send(
        "POST",
        "/1.0/certificates",
        JSON.stringify({ type: "server", name: "j1", password: "sesame" }),
      );
      assert.equal(trusted.status, 201, trusted.text);
      // Trusted, it is not a member: nothing else opens.
      assert.equal((await c.send("PUT", "/internal/heartbeat", "{}")).status, 403);
      assert.equal((await c.upgrade("/internal/raft")).status, 403);
      assert.equal((await c.send("POST", "/internal/cluster/accept", req("j1"))).status, 403);
      assert.equal((await c.send("POST", "/internal/cluster/accept", req("j1", "wrong"))).status, 403);
      assert.equal((await c.send("POST", "/internal/cluster/accept", req("m1", "sesame"))).status, 403);
      // A client cannot add a server certificate for someone else with the password.
      const [other, stranger] = [await newCert("other"), await newCert("stranger")];
      const forOther = await caller(at[0]!, served, stranger).send(
        "POST",
        "/1.0/certificates",
        JSON.stringify({ type: "server", name: "j2", password: "sesame", certificate: other.cert }),
      );
      assert.equal(forOther.status, 403);
      assert.equal(
        (await m1.shoal(["cluster", "list", "--format", "csv"])).stdout.trim().split("\n").length,
        2,
      );
    });

    await t.step(
      "a member's certificate cannot be deleted or retyped through /1.0/certificates",
      async () => {
        const fp = await fingerprint((await readKeyPair(m2.dir, "server"))!.cert);
        const del = await m1.client().request("DELETE", `/1.0/certificates/${fp}`).catch((e) => e);
        assert.equal(del.status, 400);
        assert.equal(del.message, "Cannot delete a server certificate. Remove the cluster member instead");
        for (const body of [{ type: "client" }, { name: "renamed" }]) {
          const e = await m1.client().request("PATCH", `/1.0/certificates/${fp}`, { body }).catch((x) => x);
          assert.equal(e.status, 403, String(e.message));
        }
        const cert = JSON.parse((await m1.shoal(["query", `/1.0/certificates/${fp}`])).stdout);
        assert.deepEqual([cert.type, cert.name], ["server", "m2"]);
      },
    );

    await t.step(
      "Raft frames: forged, malformed and huge ones close the stream and change nothing",
      async () => {
        const seed = Number(Deno.env.get("SHOAL_FUZZ_SEED") ?? Date.now() % 1_000_000);
        console.log(`raft frame fuzz seed: ${seed} (SHOAL_FUZZ_SEED=${seed} to replay)`);
        const rand = seededRng(seed);
        const m2Own = (await readKeyPair(m2.dir, "server"))!;
        const c = caller(at[0]!, served, m2Own);
        const before = await raftStatus(m1);
        const m2Id = (await raftStatus(m2)).id;
        const self = before.id;
        const huge = "x".repeat(2 * 1024 * 1024);
        // Another member's id (m3's, now removed, or any id that is not m2's).
        const other = [1, 2, 3, 4].find((x) => x !== m2Id && x !== self)!;
        const kinds = [
          () => "{not json",
          () => JSON.stringify({ v: 99, from: m2Id, messages: [] }),
          () => JSON.stringify({ v: 1, from: m2Id, messages: "nope" }),
          // Claims to be another member, with a term far ahead: the finding's forged append.
          () =>
            encodeBatch(other, [{
              type: "heartbeat",
              from: other,
              to: self,
              term: before.term + 1 + Math.floor(rand() * 1000),
              commit: 0,
              ctx: "",
            }]),
          // The frame says m2, a message in it says someone else.
          () =>
            encodeBatch(m2Id, [{
              type: "app",
              from: 7,
              to: self,
              term: before.term + 5,
              index: before.commit,
              logTerm: before.term,
              commit: before.commit + 1,
              entries: [{
                index: before.commit + 1,
                term: before.term + 5,
                type: "normal",
                data: "DELETE FROM config",
              }],
            }]),
          // A huge entry from the wrong id.
          () =>
            encodeBatch(999, [{
              type: "app",
              from: 999,
              to: self,
              term: before.term + 9,
              index: 0,
              logTerm: 0,
              commit: 0,
              entries: [{ index: 1, term: before.term + 9, type: "normal", data: huge }],
            }]),
          () => new Uint8Array(Array.from({ length: 64 }, () => Math.floor(rand() * 256))),
        ];
        const n = 140;
        const closed: Record<number, number> = {};
        for (let i = 0; i < n; i++) {
          const code = await frame(c, kinds[Math.floor(rand() * kinds.length)]!());
          closed[code] = (closed[code] ?? 0) + 1;
        }
        console.log(`raft frames: ${n} sent, close codes ${JSON.stringify(closed)}`);
        assert.deepEqual(
          Object.keys(closed),
          ["1008"],
          "every forged or malformed frame closes its stream (1008)",
        );
        const after = await raftStatus(m1);
        assert.equal(after.term, before.term, "a forged frame moved m1's term");
        assert.equal(after.lead, before.lead);
        // The cluster works on: a write through m1 is seen on m2.
        await m1.shoal(["config", "set", "user.after-fuzz", "yes"]);
        await waitFor(
          "the write on m2",
          async () => (await m2.shoal(["config", "get", "user.after-fuzz"])).stdout.trim() === "yes",
        );
      },
    );
  } finally {
    for (const c of callers) c.close();
    await Promise.all(ms.map((m) => m.stop()));
  }
});
