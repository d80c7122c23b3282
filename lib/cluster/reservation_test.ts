import assert from "node:assert/strict";
import {
  addNode,
  ensureStandaloneNode,
  GlobalDB,
  GlobalFsm,
  LocalConsensus,
  updateGlobalSchema,
} from "../db/mod.ts";
import { releasePlacement, type Reservation, reservePlacement } from "./reservation.ts";

async function fresh(clock: () => Date) {
  const dir = await Deno.makeTempDir();
  const fsm = new GlobalFsm(`${dir}/db.sqlite`);
  const db = new GlobalDB(fsm, new LocalConsensus(fsm), { clock });
  await db.run(updateGlobalSchema, {});
  await db.run(ensureStandaloneNode, { arch: "x86_64", apiExtensions: 1 });
  for (const n of [2, 3]) {
    await db.run(addNode, { name: `m${n}`, address: `127.0.0.${n}:8443`, arch: "x86_64", apiExtensions: 1 });
  }
  return {
    db,
    async [Symbol.asyncDispose]() {
      fsm.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const member = (r: Reservation) => (r.kind === "placed" ? r.member : r.kind);

Deno.test("placements at once spread: each sees the reservations before it", async () => {
  let now = Date.parse("2026-01-01T00:00:00Z");
  await using t = await fresh(() => new Date(now));
  const online = ["none", "m2", "m3"];
  const placed = await Promise.all(
    Array.from(
      { length: 9 },
      (_, i) => t.db.run(reservePlacement, { target: null, online, project: "default", name: `c${i}` }),
    ),
  );
  const per = new Map<string, number>();
  for (const r of placed) per.set(member(r), (per.get(member(r)) ?? 0) + 1);
  assert.deepEqual(Object.fromEntries(per), { none: 3, m2: 3, m3: 3 });

  // A released reservation stops counting: the next goes where it was.
  const first = placed[0]!;
  assert.equal(first.kind, "placed");
  if (first.kind === "placed") await t.db.run(releasePlacement, { id: first.id });
  assert.equal(
    member(await t.db.run(reservePlacement, { target: null, online, project: "default", name: "x" })),
    member(first),
  );

  // Offline members are skipped; an expired reservation (its member died) stops counting.
  assert.equal(
    member(await t.db.run(reservePlacement, { target: null, online: ["m3"], project: "default", name: "y" })),
    "m3",
  );
  now += 16 * 60_000;
  assert.equal(
    member(await t.db.run(reservePlacement, { target: null, online, project: "default", name: "z" })),
    "none",
  );
});

Deno.test("placement refusals: an unknown group, no member that may take it", async () => {
  await using t = await fresh(() => new Date());
  const args = { online: ["none", "m2", "m3"], project: "default", name: "c" };
  assert.equal(member(await t.db.run(reservePlacement, { ...args, target: { group: "nope" } })), "no-group");
  assert.equal(member(await t.db.run(reservePlacement, { ...args, online: [], target: null })), "no-member");
});
