/**
 * Cluster-wide events and operations with real daemons on 127.0.0.81-84 (issue 5, item 8):
 * every member's /1.0/events carries the whole cluster's events (full mesh), members added, renamed and
 * removed reach listeners on every member, the real lxc client's `monitor` on one member sees
 * another's events, and an operation on one member is listed, waited for and cancelled through
 * another.
 */
import assert from "node:assert/strict";
import type { Client, Event, Operation } from "../../lib/client/mod.ts";
import { formCluster, joinMember } from "../helpers/cluster.ts";
import { type Member, spawnBackground, tempDir, waitFor } from "../helpers/member.ts";

const ADDR = ["127.0.0.81", "127.0.0.82", "127.0.0.83", "127.0.0.84"];

/** Every event a member's listener receives, from the moment it is open. */
class Listener {
  events: Event[] = [];
  #client: Client;
  #close: () => void = () => {};
  constructor(readonly member: Member) {
    this.#client = member.client();
  }
  async open(): Promise<this> {
    const s = await this.#client.events(["operation", "lifecycle"], (e) => this.events.push(e), {
      allProjects: true,
    });
    await s.ready;
    this.#close = () => s.close();
    return this;
  }
  close(): void {
    this.#close();
    this.#client.close();
  }
  /** Lifecycle events with this action (and source, when given). */
  lifecycle(action: string, source?: string): Event[] {
    return this.events.filter((e) => {
      const m = e.metadata as { action?: string; source?: string };
      return e.type === "lifecycle" && m.action === action && (source === undefined || m.source === source);
    });
  }
  /** Operation events of operation id. */
  operation(id: string): Event[] {
    return this.events.filter((e) => e.type === "operation" && (e.metadata as Operation).id === id);
  }
}

/** A join token operation on m (a real operation, on that member only). */
async function tokenOn(m: Member, name: string): Promise<Operation> {
  const c = m.client();
  try {
    return (await c.request<Operation>("POST", "/1.0/cluster/members", { body: { server_name: name } }))
      .metadata;
  } finally {
    c.close();
  }
}

/**
 * Raises events on `from` until `listener` sees one (the relay connects within moments of a
 * member appearing or coming back); returns the operation seen.
 */
async function relayed(from: Member, listener: Listener, what: string): Promise<Operation> {
  let n = 0;
  return await waitFor(
    what,
    async () => {
      const op = await tokenOn(from, `probe-${from.name}-${n++}`);
      await new Promise((r) => setTimeout(r, 300));
      return listener.operation(op.id).length > 0 ? op : undefined;
    },
    30_000,
    10,
  );
}

Deno.test({
  name: "events and operations reach every member of a cluster",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using dir = await tempDir("cluster-events");
    const ms = await formCluster(dir.path, ADDR.slice(0, 3));
    const [m1, m2, m3] = ms as [Member, Member, Member];
    const listeners: Listener[] = [];
    try {
      const l1 = await new Listener(m1).open();
      const l2 = await new Listener(m2).open();
      const l3 = await new Listener(m3).open();
      listeners.push(l1, l2, l3);
      await relayed(m3, l2, "m2's listener to see an operation of m3");
      await relayed(m2, l1, "m1's listener to see an operation of m2");
      await relayed(m1, l3, "m3's listener to see an operation of m1");

      await t.step(
        "a listener on m2 sees m3's operation and lifecycle events once, with location m3",
        async () => {
          const op = await tokenOn(m3, "fromm3");
          assert.equal(op.location, "m3");
          const source = `/1.0/operations/${op.id}`;
          await waitFor(
            "the token's events on m2",
            () => l2.operation(op.id).length > 0 && l2.lifecycle("cluster-token-created", source).length > 0,
          );
          // m1 and m3 see it too; m3 (where it happened) only once, not again through the others.
          await waitFor(
            "the token's events on m1",
            () => l1.lifecycle("cluster-token-created", source).length > 0,
          );
          await waitFor(
            "the token's event on m3",
            () => l3.lifecycle("cluster-token-created", source).length > 0,
          );
          const ev = l2.lifecycle("cluster-token-created", source)[0]!;
          assert.equal(ev.location, "m3");
          assert.equal((l2.operation(op.id)[0]!.metadata as Operation).location, "m3");
          // Give a duplicate or a loop every chance to show up.
          await new Promise((r) => setTimeout(r, 1_500));
          for (const l of listeners) {
            assert.equal(l.lifecycle("cluster-token-created", source).length, 1, `on ${l.member.name}`);
            assert.equal(l.operation(op.id).length, 1, `operation events on ${l.member.name}`);
          }
        },
      );

      await t.step("lxc monitor on m1's socket receives an event raised on m3", async () => {
        const monitor = spawnBackground("lxc", ["monitor", "--type=operation", "--format=json"], m1.lxcEnv());
        try {
          // lxc monitor prints nothing when it is connected: ask until an event arrives.
          let n = 0;
          const id = await waitFor(
            "lxc monitor on m1 to print an operation of m3",
            async () => {
              const op = await tokenOn(m3, `lxcmon-${n++}`);
              await new Promise((r) => setTimeout(r, 500));
              return monitor.output.includes(op.id) ? op.id : undefined;
            },
            30_000,
            10,
          );
          const line = monitor.output.split("\n").find((l) => l.includes(id))!;
          const e = JSON.parse(line) as Event;
          assert.equal(e.type, "operation");
          assert.equal(e.location, "m3");
        } finally {
          await monitor.stop();
        }
      });

      await t.step("an operation on m3 is listed, shown, waited for and cancelled through m1", async () => {
        const op = await tokenOn(m3, "opviam1");
        const c1 = m1.client();
        try {
          const list = await c1.get<Record<string, string[]>>("/1.0/operations");
          assert.ok(list.running?.includes(`/1.0/operations/${op.id}`), JSON.stringify(list));
          const full = await c1.get<Record<string, Operation[]>>("/1.0/operations?recursion=1");
          assert.equal(full.running?.find((o) => o.id === op.id)?.location, "m3");
          const shown = await c1.get<Operation>(`/1.0/operations/${op.id}`);
          assert.equal(shown.location, "m3");
          assert.equal(shown.status, "Running");
          // The real lxc client lists it through m1 too.
          const lxcList = await m1.lxc(["operation", "list", "--format", "csv"]);
          assert.equal(lxcList.code, 0, lxcList.stderr);
          assert.match(lxcList.stdout, new RegExp(op.id));
          // A wait with a timeout through m1 ends at the timeout with the operation still running.
          const early = await c1.waitOperation(op.id, 1);
          assert.equal(early.status, "Running");
          let done: Operation | null = null;
          const waiting = c1.waitOperation(op.id, 60).then((o) => (done = o));
          await new Promise((r) => setTimeout(r, 500));
          assert.equal(done, null, "the wait returned before the operation ended");
          const del = await m1.lxc(["operation", "delete", op.id]);
          assert.equal(del.code, 0, del.stderr);
          const ended = await waiting;
          assert.equal(ended.id, op.id);
          assert.equal(ended.status, "Cancelled");
          assert.equal(ended.location, "m3");
          // Not on any member: LXD's 404, also for a wait and a cancel.
          const missing = "00000000-0000-0000-0000-000000000000";
          for (const [method, path] of [["GET", ""], ["GET", "/wait?timeout=1"], ["DELETE", ""]]) {
            const r = await c1.raw(method!, `/1.0/operations/${missing}${path}`);
            assert.equal(r.status, 404);
            assert.equal(r.envelope.error, "Operation not found");
          }
        } finally {
          c1.close();
        }
      });

      await t.step("a member added, renamed and removed reaches listeners on every member", async () => {
        const m4 = await joinMember(dir.path, m1, "m4", ADDR[3]!);
        ms.push(m4);
        const source = "/1.0/cluster/members/m4";
        for (const l of listeners) {
          await waitFor(
            `cluster-member-added on ${l.member.name}`,
            () => l.lifecycle("cluster-member-added", source).length > 0,
          );
          assert.equal(l.lifecycle("cluster-member-added", source)[0]!.location, "m4");
        }
        const l4 = await new Listener(m4).open();
        listeners.push(l4);
        await relayed(m3, l4, "the new member's listener to see an operation of m3");
        // Renamed through m3: every listener, the renamed member's too, hears it from m3.
        const mv = await m3.shoal(["cluster", "rename", "m4", "m5"]);
        assert.equal(mv.code, 0, mv.stderr);
        const renamed = "/1.0/cluster/members/m5";
        for (const l of listeners) {
          await waitFor(
            `cluster-member-renamed on ${l.member.name}`,
            () => l.lifecycle("cluster-member-renamed", renamed).length > 0,
          );
          const e = l.lifecycle("cluster-member-renamed", renamed)[0]!;
          assert.equal(e.location, "m3");
          assert.equal((e.metadata as { context: { old_name: string } }).context.old_name, "m4");
        }
        const rm = await m2.shoal(["cluster", "remove", "m5"]);
        m4.expectExit();
        assert.equal(rm.code, 0, rm.stderr);
        for (const l of listeners.slice(0, 3)) {
          await waitFor(
            `cluster-member-removed on ${l.member.name}`,
            () => l.lifecycle("cluster-member-removed", renamed).length > 0,
          );
        }
        await new Promise((r) => setTimeout(r, 1_000));
        for (const l of listeners.slice(0, 3)) {
          assert.equal(l.lifecycle("cluster-member-removed", renamed).length, 1, `on ${l.member.name}`);
          assert.equal(l.lifecycle("cluster-member-renamed", renamed).length, 1, `on ${l.member.name}`);
        }
      });

      await t.step("a member that was killed and came back is listened to again", async () => {
        await m3.kill();
        await m3.start();
        await relayed(m3, l1, "m1's listener to see m3's operations after its restart");
        const l3b = await new Listener(m3).open();
        listeners.push(l3b);
        await relayed(m2, l3b, "the restarted m3's listener to see m2's operations");
      });
    } finally {
      for (const l of listeners) l.close();
      for (const m of ms.reverse()) await m.stop();
    }
  },
});
