import { Hono } from "hono";
import { MEMBER_CALLS } from "../../cluster/mod.ts";
import {
  createPool,
  definePoolMember,
  deletePool,
  findCustomVolumes,
  findPool,
  finishPool,
  getPool,
  isPoolMemberKey,
  listNodes,
  listPools,
  listVolumes,
  pendingPoolParts,
  type PoolRecord,
  updatePool,
} from "../../db/mod.ts";
import { openPool, validatePool } from "../../storage/mod.ts";
import { badRequest, checkName, errorMessage, etag, notFound } from "../../util/mod.ts";
import type { MemberPart } from "../../wire/mod.ts";
import { readJson } from "../body.ts";
import type { ApiEnv, Ctx, ServerContext } from "../context.ts";
import { emptySync, sync } from "../response.ts";
import { preconditionCheck } from "./instances_common.ts";
import { KeyedLock, onEveryMember } from "./member_parts.ts";

interface PoolBody {
  name?: string;
  driver?: string;
  description?: string;
  config?: Record<string, unknown>;
}

/** LXD's StoragePool object. */
function poolJSON(p: PoolRecord, usedBy: string[]): Record<string, unknown> {
  return {
    config: p.config,
    description: p.description,
    name: p.name,
    driver: p.driver,
    used_by: usedBy,
    status: p.status,
    locations: p.locations,
  };
}

function stringConfig(c: unknown): Record<string, string> {
  if (c !== undefined && c !== null && (typeof c !== "object" || Array.isArray(c))) {
    throw badRequest("Invalid config: expected an object of strings");
  }
  return Object.fromEntries(Object.entries(c ?? {}).map(([k, v]) => [k, String(v)]));
}

const split = (config: Record<string, string>, own: boolean) =>
  Object.fromEntries(Object.entries(config).filter(([k]) => isPoolMemberKey(k) === own));

/**
 * /1.0/storage-pools. A pool exists on every member, each with its own `source` (LXD's
 * member-specific keys). Clustered, it is made in two phases: `?target=M` defines M's part
 * (Pending), then a create without target makes every member do its part, all or nothing.
 */
export function storageRoutes(poolsDir: string): (ctx: ServerContext) => Hono<ApiEnv> {
  return (ctx) => {
    const app = new Hono<ApiEnv>();
    const lock = new KeyedLock();
    const usedBy = async (pool: string): Promise<string[]> => {
      const { vols, custom, profiles } = await ctx.db.read((tx) => ({
        vols: listVolumes(tx, pool),
        custom: findCustomVolumes(tx, pool),
        profiles: tx.query<{ name: string }>(
          `SELECT DISTINCT profiles.name FROM profiles JOIN profiles_devices ON profiles_devices.profile_id = profiles.id
             JOIN profiles_devices_config ON profiles_devices_config.profile_device_id = profiles_devices.id
            WHERE profiles_devices.type = 2 AND profiles_devices_config.key = 'pool' AND profiles_devices_config.value = ?
            ORDER BY profiles.name`,
          pool,
        ),
      }));
      return [
        ...vols.filter((v) => v.type === "container").map((v) => `/1.0/instances/${v.name}`),
        ...custom.map((v) =>
          `/1.0/storage-pools/${pool}/volumes/custom/${v.name}${
            ctx.clustered() ? `?target=${v.location}` : ""
          }`
        ),
        ...profiles.map((p) => `/1.0/profiles/${p.name}`),
      ];
    };

    /** ?target=, checked: only when clustered, and a member that exists. */
    const targetOf = async (c: Ctx): Promise<string | null> => {
      const target = c.req.query("target") || null;
      if (target === null) return null;
      if (!ctx.clustered()) throw badRequest("Target only allowed when clustered");
      const nodes = await ctx.db.read(listNodes);
      if (!nodes.some((n) => n.name === target)) throw notFound("Cluster member not found");
      return target;
    };

    /**
     * How a pool reads: with a target (or standalone) that member's keys and own state; else,
     * clustered, the global keys and the pool's state in the cluster (LXD's storagePoolGet).
     */
    const view = (p: PoolRecord, target: string | null): PoolRecord => {
      if (!ctx.clustered()) return p;
      if (target === null) return { ...p, config: split(p.config, false) };
      return { ...p, status: p.memberStates[target] ?? "Pending" };
    };

    /** This member's part of a pool: its directories (create) or their removal (delete). */
    const localPart = async (
      name: string,
      driver: string,
      action: MemberPart["action"],
      config: Record<string, string>,
    ) => {
      const d = openPool({ name, driver, config }, poolsDir);
      if (action === "delete") {
        await d.delete();
        return {};
      }
      await d.create();
      return { ...split(config, true), ...d.ownConfig() };
    };

    app.get("/1.0/storage-pools", async (c) => {
      const pools = await ctx.db.read((tx) => listPools(tx, ctx.clustered() ? null : ctx.location()));
      if ((c.req.query("recursion") ?? "0") === "0") {
        return sync(c, pools.map((p) => `/1.0/storage-pools/${p.name}`));
      }
      return sync(
        c,
        await Promise.all(pools.map(async (p) => poolJSON(view(p, null), await usedBy(p.name)))),
      );
    });

    app.post("/1.0/storage-pools", async (c) => {
      const b = await readJson<PoolBody>(c);
      if (b.name === undefined || b.name === "") throw badRequest("No name provided");
      checkName("pool", b.name);
      if (!b.driver) throw badRequest("No driver provided");
      const name = b.name;
      const driver = b.driver;
      const config = stringConfig(b.config);
      const target = await targetOf(c);
      c.header("Location", `/1.0/storage-pools/${name}`);
      if (target !== null) {
        // First phase: only this member's own keys, recorded; nothing is made yet.
        for (const k of Object.keys(config)) {
          if (!isPoolMemberKey(k)) {
            throw badRequest(`Config key "${k}" may not be used as member-specific key`);
          }
        }
        validatePool(driver, config);
        await ctx.db.run(definePoolMember, {
          name,
          driver,
          description: b.description ?? "",
          config,
          member: target,
        });
        return sync(c, {});
      }
      validatePool(driver, config);
      await lock.run("pools", async () => {
        const existing = await ctx.db.read((tx) => findPool(tx, name, null));
        const members = ctx.clustered() ? (await ctx.db.read(listNodes)).length : 1;
        if (members > 1 || (existing && existing.status !== "Created")) {
          await createEverywhere(name, driver, b.description ?? "", config);
        } else {
          await createHere(name, driver, b.description ?? "", config);
        }
      });
      ctx.events.lifecycle("storage-pool-created", `/1.0/storage-pools/${name}`);
      return sync(c, {});
    });

    /** One step: a standalone server (or a cluster of one) makes the pool and records it. */
    const createHere = async (
      name: string,
      driver: string,
      description: string,
      config: Record<string, string>,
    ) => {
      if (await ctx.db.read((tx) => findPool(tx, name, null))) {
        throw badRequest(`Storage pool "${name}" already exists`);
      }
      const own = await localPart(name, driver, "create", config);
      try {
        await ctx.db.run(createPool, {
          name,
          driver,
          description,
          config: { ...config, ...own },
          member: ctx.location(),
        });
      } catch (e) {
        await localPart(name, driver, "delete", { ...config, ...own }).catch(() => {});
        throw e;
      }
    };

    /** Second phase: every member does its part with its own keys, then the pool is Created. */
    const createEverywhere = async (
      name: string,
      driver: string,
      description: string,
      config: Record<string, string>,
    ) => {
      for (const k of Object.keys(config)) {
        if (isPoolMemberKey(k)) throw badRequest(`Config key "${k}" is cluster member specific`);
      }
      const own = await ctx.db.read((tx) => pendingPoolParts(tx, name, driver));
      const withOwn = (m: string) => ({ ...config, ...(own[m] ?? {}) });
      const parts = await onEveryMember(
        ctx,
        MEMBER_CALLS.poolPart,
        { name, driver },
        { action: "create", config: withOwn },
        { action: "delete", config: withOwn },
        (action, cfg) => localPart(name, driver, action, cfg),
      );
      try {
        await ctx.db.run(finishPool, { name, description, config, parts: Object.fromEntries(parts) });
      } catch (e) {
        // Another member's create of the same pool finished first: the parts are its now.
        if (errorMessage(e) === "The storage pool is already created") throw e;
        const resolved = (m: string) => ({ ...withOwn(m), ...(parts.get(m) ?? {}) });
        await onEveryMember(
          ctx,
          MEMBER_CALLS.poolPart,
          { name, driver },
          { action: "delete", config: resolved },
          null,
          (action, cfg) => localPart(name, driver, action, cfg),
        ).catch((err) => ctx.log.error("Could not undo a pool's parts", { pool: name, err: String(err) }));
        throw e;
      }
    };

    // A member's own part, asked by the member running a cluster-wide create or delete.
    app.put("/internal/storage-pools/:name", async (c) => {
      const b = await readJson<MemberPart>(c);
      const name = c.req.param("name");
      checkName("pool", name);
      if (b.action !== "create" && b.action !== "delete") {
        throw badRequest(`Unknown action "${b.action}" for a storage pool`);
      }
      const config = stringConfig(b.config);
      validatePool(b.driver ?? "", config);
      return sync(c, { config: await localPart(name, b.driver ?? "", b.action, config) });
    });

    app.get("/1.0/storage-pools/:name", async (c) => {
      const target = await targetOf(c);
      const p = await ctx.db.read((tx) => getPool(tx, c.req.param("name"), target ?? ctx.location()));
      const v = view(p, target);
      return sync(c, poolJSON(v, await usedBy(p.name)), { etag: etag([v.name, v.driver, v.config]) });
    });

    const put = (patch: boolean) => async (c: Ctx) => {
      const name = c.req.param("name")!;
      const target = await targetOf(c);
      const p = await ctx.db.read((tx) => getPool(tx, name, target ?? ctx.location()));
      const cur = view(p, target);
      preconditionCheck(c, [cur.name, cur.driver, cur.config]);
      const b = await readJson<PoolBody>(c);
      const body = stringConfig(b.config);
      const description = b.description ?? (patch ? p.description : "");
      if (!ctx.clustered()) {
        const config = patch ? { ...p.config, ...body } : body;
        validatePool(p.driver, config);
        if ((config.source ?? "") !== (p.config.source ?? "")) {
          throw badRequest(`The "source" of a created storage pool cannot be changed`);
        }
        await ctx.db.run(updatePool, { name, description, config: split(config, false), member: null });
        await ctx.db.run(updatePool, {
          name,
          description,
          config: split(config, true),
          member: ctx.location(),
        });
      } else if (target === null) {
        if (p.status !== "Created") {
          throw badRequest("Cannot update storage pool global config when not in created state");
        }
        for (const k of Object.keys(body)) {
          if (isPoolMemberKey(k)) throw badRequest(`Config key "${k}" is cluster member specific`);
        }
        const config = patch ? { ...cur.config, ...body } : body;
        validatePool(p.driver, config);
        await ctx.db.run(updatePool, { name, description, config, member: null });
      } else {
        // A member's own keys; the others may come along unchanged (lxc sends the whole config).
        for (const [k, v] of Object.entries(body)) {
          if (!isPoolMemberKey(k) && p.config[k] !== v) {
            throw badRequest(`Config key "${k}" may not be used as cluster member specific key`);
          }
        }
        const own = patch ? { ...split(p.config, true), ...split(body, true) } : split(body, true);
        validatePool(p.driver, own);
        if (p.memberStates[target] === "Created" && (own.source ?? "") !== (p.config.source ?? "")) {
          throw badRequest(`The "source" of a created storage pool cannot be changed`);
        }
        await ctx.db.run(updatePool, { name, description, config: own, member: target });
      }
      ctx.events.lifecycle("storage-pool-updated", `/1.0/storage-pools/${name}`);
      return emptySync(c);
    };
    app.put("/1.0/storage-pools/:name", put(false));
    app.patch("/1.0/storage-pools/:name", put(true));

    app.delete("/1.0/storage-pools/:name", async (c) => {
      const name = c.req.param("name");
      await lock.run("pools", async () => {
        const p = await ctx.db.read((tx) => getPool(tx, name, null));
        if ((await usedBy(name)).length > 0) throw badRequest("The storage pool is currently in use");
        const own = await ctx.db.read((tx) =>
          Object.fromEntries(p.locations.map((m) => [m, split(getPool(tx, name, m).config, true)]))
        );
        const created = Object.values(p.memberStates).some((s) => s !== "Pending");
        if (created) {
          // Every member removes its part; one that is offline fails the delete before any does.
          const cfg = (m: string) => ({ ...p.config, ...(own[m] ?? {}) });
          await onEveryMember(
            ctx,
            MEMBER_CALLS.poolPart,
            { name, driver: p.driver },
            { action: "delete", config: cfg },
            { action: "create", config: cfg },
            (action, c) => localPart(name, p.driver, action, c),
          );
        }
        await ctx.db.run(deletePool, { name });
      });
      ctx.events.lifecycle("storage-pool-deleted", `/1.0/storage-pools/${name}`);
      return emptySync(c);
    });
    return app;
  };
}
