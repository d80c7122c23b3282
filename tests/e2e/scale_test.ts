/**
 * Sixteen real members on 127.0.0.211-226, each its own process, address and $SHOAL_DIR: every
 * member joins (3 voters, 2 stand-bys and 11 spares, as LXD assigns them); a write on any member
 * is read on any other; kill -9 of the leader and of two spares under a write load loses no
 * acknowledged write; the killed members show OFFLINE after cluster.offline_threshold and ONLINE
 * again once restarted; removing a spare and a voter rebalances the roles; a lost voter's seat
 * goes to a member of its own failure domain; a custom role (event-hub) is kept.
 * Members run without --debug: sixteen of them logging every heartbeat would cost the machine more
 * than the test itself.
 */
import assert from "node:assert/strict";
import {
  clusterList,
  type MemberRow,
  readUserKey as read,
  writeUserKey as write,
} from "../helpers/cluster.ts";
import { Member, run, SHOALD, tempDir, waitFor } from "../helpers/member.ts";

const SIZE = 16;
const address = (i: number) => `127.0.0.${210 + i}`; // member i of 1..16
const THRESHOLD_S = 11; // the smallest cluster.offline_threshold LXD accepts

type Role = "leader" | "voter" | "standby" | "spare";
function roleOf(r: MemberRow): Role {
  if (r.roles.includes("database-leader")) return "leader";
  if (r.roles.includes("database")) return "voter";
  if (r.roles.includes("database-standby")) return "standby";
  return "spare";
}

async function ok(p: Promise<{ code: number; stdout: string; stderr: string }>): Promise<string> {
  const r = await p;
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** The files of a member's global database (none on a spare: it holds no copy). */
async function globalDbFiles(m: Member): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${m.dir}/database/global`)) if (e.isFile) out.push(e.name);
  return out.sort();
}

/** One value of the global config as a member's own database has it (`shoald sql global`). */
async function ownCopy(m: Member, key: string): Promise<string> {
  const r = await m.shoald([
    "sql",
    "global",
    "--format",
    "csv",
    `SELECT value FROM config WHERE key = '${key}'`,
  ]);
  assert.equal(r.code, 0, `${m.name}: ${r.stderr}`);
  return r.stdout.trim().split("\n").at(-1)!;
}

/** Waits until `via` lists `size` members, all ONLINE, in 3 voters + 2 stand-bys + the rest spares. */
async function settled(via: Member, size: number, timeoutMs = 60_000): Promise<MemberRow[]> {
  return await waitFor(
    `${size} members ONLINE in 3 voters, 2 stand-bys and ${size - 5} spares`,
    async () => {
      const rows = await clusterList(via);
      const n = (r: Role[]) => rows.filter((x) => r.includes(roleOf(x))).length;
      return rows.length === size && rows.every((x) => x.state === "ONLINE") && n(["leader"]) === 1 &&
          n(["leader", "voter"]) === 3 && n(["standby"]) === 2 && n(["spare"]) === size - 5
        ? rows
        : null;
    },
    timeoutMs,
    200,
  );
}

Deno.test({
  name:
    "sixteen members: joins, roles, any member serves, kill -9 under load, restart, removal, failure domains",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using dir = await tempDir("scale");
    const ms: Member[] = [];
    const byName = (name: string) => ms.find((m) => m.name === name)!;
    try {
      await t.step("sixteen members join by token, one after another", async () => {
        const m1 = await new Member(`${dir.path}/m1`, "m1", {}, [], { debug: false }).start();
        ms.push(m1);
        await ok(m1.shoald(["init", "--preseed"], {
          stdin:
            `config:\n  core.https_address: ${
              address(1)
            }:8443\n  cluster.offline_threshold: "${THRESHOLD_S}"\n` +
            `cluster:\n  server_name: m1\n  enabled: true\n`,
        }));
        const took: string[] = [];
        for (let i = 2; i <= SIZE; i++) {
          const m = await new Member(`${dir.path}/m${i}`, `m${i}`, {}, [], { debug: false }).start();
          ms.push(m);
          const token = (await ok(m1.shoal(["cluster", "add", m.name, "--quiet"]))).trim();
          const t0 = performance.now();
          // Longer than the joiner's own 60 s wait for the database, so that its error is what
          // fails the test on a machine too loaded to finish (with the joiner's last words).
          const r = await run(SHOALD, ["init", "--preseed"], {
            env: m.env,
            stdin: `cluster:\n  enabled: true\n  server_name: ${m.name}\n  server_address: ${
              address(i)
            }:8443\n  cluster_token: ${token}\n`,
            timeoutMs: 120_000,
          });
          assert.equal(r.code, 0, `${m.name} did not join: ${r.stderr}\n${await m.logTail(30)}`);
          took.push(`${i}: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
        }
        console.log(`joins: ${took.join(", ")}`);
      });

      let rows: MemberRow[] = [];
      await t.step("3 voters, 2 stand-bys and 11 spares, all ONLINE, as a spare lists them", async () => {
        rows = await settled(ms[0]!, SIZE);
        const spare = byName(rows.find((r) => roleOf(r) === "spare")!.name);
        const seen = await settled(spare, SIZE);
        assert.deepEqual(seen.map((r) => r.name).sort(), ms.map((m) => m.name).sort());
      });

      await t.step("spares hold no copy of the database; voters and stand-bys do", async () => {
        for (const r of rows) {
          const files = await globalDbFiles(byName(r.name));
          if (roleOf(r) === "spare") assert.deepEqual(files, [], `spare ${r.name} holds ${files.join(", ")}`);
          else assert.ok(files.includes("db.sqlite"), `${roleOf(r)} ${r.name} holds ${files.join(", ")}`);
        }
        const spare = byName(rows.find((r) => roleOf(r) === "spare")!.name);
        const r = await spare.shoald(["sql", "global", "SELECT 1"]);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /spare: it holds no copy of the global database/);
      });

      await t.step("a write on any member is read on any other", async () => {
        for (let i = 0; i < SIZE; i++) {
          assert.ok(
            await write(ms[i]!, `user.from_${ms[i]!.name}`, String(i)),
            `write through ${ms[i]!.name}`,
          );
          const reader = ms[(i + 7) % SIZE]!;
          assert.equal(await read(reader, `user.from_${ms[i]!.name}`), String(i), `read on ${reader.name}`);
        }
      });

      const killed: Member[] = [];
      let killedAt = 0;
      await t.step(
        "kill -9 of the leader and two spares under a write load loses no acknowledged write",
        async () => {
          const leader = byName(rows.find((r) => roleOf(r) === "leader")!.name);
          const spares = rows.filter((r) => roleOf(r) === "spare").map((r) => byName(r.name));
          const victims = [leader, spares[0]!, spares[1]!];
          const survivors = ms.filter((m) => !victims.includes(m));
          // Writers on a voter, a stand-by and two spares that stay up.
          const writers = [
            byName(rows.find((r) => roleOf(r) === "voter")!.name),
            byName(rows.find((r) => roleOf(r) === "standby")!.name),
            spares[2]!,
            spares[3]!,
          ];
          const acked = new Map<string, number>();
          let stop = false;
          const loops = writers.map(async (m) => {
            for (let seq = 1; !stop; seq++) {
              if (await write(m, `user.load_${m.name}`, String(seq))) acked.set(m.name, seq);
              else await new Promise((r) => setTimeout(r, 50));
            }
          });
          await new Promise((r) => setTimeout(r, 1_000));
          killedAt = Date.now();
          await Promise.all(victims.map((m) => m.kill()));
          killed.push(...victims);
          // Writes go on through the election and until each writer has had some acknowledged after it.
          const before = new Map(acked);
          await waitFor(
            "every writer to get writes acknowledged after the kills",
            () => writers.every((m) => (acked.get(m.name) ?? 0) > (before.get(m.name) ?? 0) + 3),
            30_000,
          );
          stop = true;
          await Promise.all(loops);
          const reader = survivors.find((m) => !writers.includes(m))!;
          for (const m of writers) {
            const got = Number(await read(reader, `user.load_${m.name}`));
            assert.ok(got >= acked.get(m.name)!, `${m.name}: acknowledged ${acked.get(m.name)}, read ${got}`);
          }
        },
      );

      await t.step("the killed members show OFFLINE once silent for the threshold", async () => {
        const spare = ms.find((m) =>
          !killed.includes(m) && roleOf(rows.find((r) => r.name === m.name)!) === "spare"
        )!;
        const offlineAt = new Map<string, { at: number; lastSeen: number }>();
        await waitFor(
          "the three killed members OFFLINE",
          async () => {
            const now = Date.now();
            for (const r of await clusterList(spare)) {
              if (killed.some((m) => m.name === r.name) && r.state === "OFFLINE" && !offlineAt.has(r.name)) {
                // LXD's "No heartbeat for 11s (2026-…Z)": when it last answered the leader.
                const lastSeen = Date.parse(/\(([^)]+)\)\s*$/.exec(r.message)?.[1] ?? "");
                offlineAt.set(r.name, { at: now, lastSeen });
              }
            }
            return offlineAt.size === killed.length;
          },
          60_000,
          200,
        );
        const after = [...offlineAt].map(([n, x]) => `${n} ${((x.at - killedAt) / 1000).toFixed(1)} s`);
        console.log(`OFFLINE after the kill (threshold ${THRESHOLD_S} s): ${after.join(", ")}`);
        // Generous bounds, not a timing: README promises the threshold ± 1 s (bench/scale.ts
        // measures it), but a loaded machine can leave a member's last answer seconds before
        // the kill (the last leader's heartbeats were 1.9 s apart once here, with sixteen
        // members and a write load on two cores), and the list is polled every 200 ms by a
        // process that takes its own time to start. What is caught: a threshold read wrong (a
        // unit off, half of it, OFFLINE before the threshold's silence), or a member never
        // marked until much later.
        for (const [n, { at, lastSeen }] of offlineAt) {
          assert.ok(Number.isFinite(lastSeen), `${n}: no last heartbeat time in its message`);
          assert.ok(
            at - lastSeen >= THRESHOLD_S * 1000 - 1_000,
            `${n} OFFLINE ${at - lastSeen} ms after its last answer, before the ${THRESHOLD_S} s threshold`,
          );
          assert.ok(
            at - killedAt >= (THRESHOLD_S / 2) * 1000 && at - killedAt <= (THRESHOLD_S + 10) * 1000,
            `${n} OFFLINE ${at - killedAt} ms after the kill: want ${THRESHOLD_S} s, give or take 10 s`,
          );
        }
      });

      await t.step("restarted, they are ONLINE again and roles settle back", async () => {
        for (const m of killed) await m.start();
        rows = await settled(ms.find((m) => !killed.includes(m))!, SIZE);
        // The killed leader lost its seat while away: a spare now, it dropped the copy it held.
        await waitFor(
          "every spare, the killed leader among them if it is one, to hold no copy",
          async () => {
            for (const r of rows.filter((r) => roleOf(r) === "spare")) {
              if ((await globalDbFiles(byName(r.name))).length > 0) return false;
            }
            return true;
          },
          30_000,
          200,
        );
      });

      await t.step("removing a spare and a voter rebalances the roles", async () => {
        const spare = rows.find((r) => roleOf(r) === "spare")!.name;
        const voter = rows.find((r) => roleOf(r) === "voter")!.name;
        const via = byName(rows.find((r) => roleOf(r) === "spare" && r.name !== spare)!.name);
        for (const name of [spare, voter]) {
          await ok(via.shoal(["cluster", "remove", name, "--force"], { stdin: "yes\n" }));
          const gone = byName(name);
          gone.expectExit();
          await gone.stop();
          ms.splice(ms.indexOf(gone), 1);
        }
        rows = await settled(via, SIZE - 2);
        assert.ok(!rows.some((r) => r.name === spare || r.name === voter));
      });

      await t.step(
        "a lost voter's seat goes to a member of its own failure domain; event-hub is kept",
        async () => {
          const via = byName(rows.find((r) => roleOf(r) === "spare")!.name);
          const c = via.client();
          const voter = rows.find((r) => roleOf(r) === "voter")!.name;
          const sameDomain = rows.filter((r) => roleOf(r) === "spare" && r.name !== via.name).at(-1)!.name;
          const hub = rows.filter((r) => roleOf(r) === "spare" && r.name !== via.name).at(0)!.name;
          try {
            for (const name of [voter, sameDomain]) {
              // PUT what the member has, with the domain (LXD's PATCH merges only config).
              const cur = await c.get<Record<string, unknown>>(`/1.0/cluster/members/${name}`);
              const { roles, description, config, groups } = cur;
              await c.request("PUT", `/1.0/cluster/members/${name}`, {
                body: { roles, description, config, groups, failure_domain: "rack2" },
              });
            }
            await ok(via.shoal(["cluster", "role", "add", hub, "event-hub"]));
          } finally {
            c.close();
          }
          assert.deepEqual(await globalDbFiles(byName(sameDomain)), [], `${sameDomain} is a spare yet`);
          assert.ok(await write(via, "user.before_promotion", "yes"));
          const lost = byName(voter);
          await lost.kill();
          const after = await waitFor(
            `${sameDomain} (rack2, a spare) to take ${voter}'s seat`,
            async () => {
              const rs = await clusterList(via);
              const r = rs.find((x) => x.name === sameDomain)!;
              return roleOf(r) === "voter" || roleOf(r) === "leader" ? rs : null;
            },
            60_000,
            200,
          );
          assert.ok(after.find((r) => r.name === hub)!.roles.includes("event-hub"));
          // Promoted from spare, it was brought the database (a snapshot and the log): its own
          // copy has what was written before, when it held none.
          const promoted = byName(sameDomain);
          await waitFor(
            `${sameDomain}'s own copy to have what was written while it was a spare`,
            async () => (await ownCopy(promoted, "user.before_promotion").catch(() => "")) === "yes",
            30_000,
            200,
          );
          await lost.start();
          await settled(via, SIZE - 2);
        },
      );
    } finally {
      await Promise.all(ms.map((m) => m.stop(10_000)));
    }
  },
});
