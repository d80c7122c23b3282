import { Hono } from "hono";
import { MEMBER_CALLS } from "../../cluster/mod.ts";
import {
  createNetwork,
  defineNetworkMember,
  deleteNetwork,
  findNetwork,
  finishNetwork,
  getNetwork,
  listNetworks,
  listNodes,
  type NetworkRecord,
  networkUsedBy,
  pendingNetworkParts,
  updateNetwork,
  updateNetworkMember,
} from "../../db/mod.ts";
import {
  fillDefaults,
  interfaceNameProblem,
  linkExists,
  NETWORK_MEMBER_KEYS,
  networkConfigProblem,
  type NetworkManager,
} from "../../network/mod.ts";
import { badRequest, conflict, errorMessage, etag, nameProblem, notFound } from "../../util/mod.ts";
import type { MemberPart } from "../../wire/mod.ts";
import { readJson } from "../body.ts";
import type { ApiEnv, Ctx, ServerContext } from "../context.ts";
import { emptySync, sync } from "../response.ts";
import { preconditionCheck } from "./instances_common.ts";
import { KeyedLock, onEveryMember } from "./member_parts.ts";

interface NetworkBody {
  name?: string;
  description?: string;
  type?: string;
  config?: Record<string, unknown>;
}

/** LXD's Network object. */
function networkJSON(n: NetworkRecord, usedBy: string[]): Record<string, unknown> {
  return {
    config: n.config,
    description: n.description,
    locations: n.locations,
    managed: true,
    name: n.name,
    status: n.status,
    type: n.type,
    used_by: usedBy,
  };
}

function stringConfig(c: Record<string, unknown> | undefined): Record<string, string> {
  if (c !== undefined && (typeof c !== "object" || c === null || Array.isArray(c))) {
    throw badRequest("Invalid config: expected an object of strings");
  }
  return Object.fromEntries(Object.entries(c ?? {}).map(([k, v]) => [k, String(v)]));
}

function checkConfig(config: Record<string, string>): void {
  const p = networkConfigProblem(config);
  if (p) throw badRequest(p);
}

/** Addresses of the other managed networks: a new one must not overlap them. */
function takenAddresses(all: NetworkRecord[], except: string): string[] {
  return all.filter((n) => n.name !== except).map((n) => n.config["ipv4.address"] ?? "")
    .filter((a) => a !== "" && a !== "none" && a !== "auto");
}

/** The user agent of member-to-member calls (cluster/connect.ts), as LXD marks notifications. */
const NOTIFIER_AGENT = "lxd-cluster-notifier";

const isMemberKey = (k: string) => (NETWORK_MEMBER_KEYS as readonly string[]).includes(k);
const split = (config: Record<string, string>, own: boolean) =>
  Object.fromEntries(Object.entries(config).filter(([k]) => isMemberKey(k) === own));

/**
 * /1.0/networks: managed bridges, each a Linux bridge with NAT and dnsmasq on every member.
 * Clustered, a network is made in two phases as a pool is (storage.ts): `?target=M` defines
 * M's part with its own keys (Pending); a create without target brings the bridge up on every
 * member with the same address, all or nothing.
 */
export function networkRoutes(nm: NetworkManager): (ctx: ServerContext) => Hono<ApiEnv> {
  return (ctx) => {
    const app = new Hono<ApiEnv>();
    const lock = new KeyedLock();
    const read = <T>(fn: Parameters<typeof ctx.db.read<T>>[0]) => ctx.db.read(fn);

    /** ?target=, checked: only when clustered, and a member that exists. */
    const targetOf = async (c: Ctx): Promise<string | null> => {
      const target = c.req.query("target") || null;
      if (target === null) return null;
      if (!ctx.clustered()) throw badRequest("Target only allowed when clustered");
      if (!(await read(listNodes)).some((n) => n.name === target)) throw notFound("Cluster member not found");
      return target;
    };

    /** As LXD shows a network: clustered without target, the global keys and the cluster's state. */
    const view = (n: NetworkRecord, target: string | null): NetworkRecord => {
      if (!ctx.clustered()) return n;
      if (target === null) return n;
      return { ...n, status: n.memberStates[target] ?? "Pending" };
    };

    /**
     * This member's part: `create` checks the address against what is in use here, then brings
     * the bridge up; `update` applies a new config; `delete` takes it down.
     */
    const localPart = async (name: string, action: MemberPart["action"], config: Record<string, string>) => {
      if (action === "delete") {
        await nm.delete(name);
        return {};
      }
      if (action === "create") {
        if (await linkExists(name)) {
          throw conflict(`Network "${name}" already exists: an interface of that name is on this member`);
        }
        await nm.resolveAddress(config, [], name);
      }
      try {
        await nm.start({ name, config });
      } catch (e) {
        if (action === "create") await nm.delete(name).catch(() => {});
        throw badRequest(`Failed starting network "${name}": ${errorMessage(e)}`);
      }
      return split(config, true);
    };

    app.put("/internal/networks/:name", async (c) => {
      const b = await readJson<MemberPart>(c);
      const name = c.req.param("name");
      const bad = nameProblem("network", name) ?? interfaceNameProblem(name);
      if (bad) throw badRequest(bad);
      if (!["create", "update", "delete"].includes(b.action)) {
        throw badRequest(`Unknown action "${b.action}" for a network`);
      }
      const config = stringConfig(b.config as Record<string, unknown>);
      checkConfig(config);
      return sync(c, { config: await localPart(name, b.action, config) });
    });

    app.get("/1.0/networks", async (c) => {
      const all = await read((tx) => listNetworks(tx, ctx.clustered() ? null : ctx.location()));
      if ((c.req.query("recursion") ?? "0") === "0") {
        return sync(
          c,
          all.map((n) => `/1.0/networks/${n.name}`),
        );
      }
      const used = await read((tx) => all.map((n) => networkUsedBy(tx, n.name)));
      return sync(c, all.map((n, i) => networkJSON(n, used[i]!)));
    });

    app.post("/1.0/networks", async (c) => {
      const b = await readJson<NetworkBody>(c);
      const name = b.name ?? "";
      const bad = (name === "" ? null : nameProblem("network", name)) ?? interfaceNameProblem(name);
      if (bad) throw badRequest(bad);
      if (b.type && b.type !== "bridge") {
        throw badRequest(`Network type "${b.type}" is not supported: shoal manages bridges`);
      }
      const config = stringConfig(b.config);
      checkConfig(config);
      const target = await targetOf(c);
      c.header("Location", `/1.0/networks/${name}`);
      if (target !== null) {
        for (const k of Object.keys(config)) {
          if (!isMemberKey(k)) throw badRequest(`Config key "${k}" may not be used as member-specific key`);
        }
        await ctx.db.run(defineNetworkMember, {
          name,
          description: b.description ?? "",
          config,
          member: target,
        });
        return sync(c, {});
      }
      await lock.run("networks", async () => {
        const existing = await read((tx) => findNetwork(tx, name, null));
        const members = ctx.clustered() ? (await read(listNodes)).length : 1;
        if (members > 1 || (existing && existing.status !== "Created")) {
          await createEverywhere(name, b.description ?? "", config);
        } else {
          await createHere(name, b.description ?? "", config);
        }
      });
      ctx.events.lifecycle("network-created", `/1.0/networks/${name}`);
      return sync(c, {});
    });

    /** One step: a standalone server (or a cluster of one). */
    const createHere = async (name: string, description: string, config: Record<string, string>) => {
      const all = await read((tx) => listNetworks(tx, ctx.location()));
      if (all.some((n) => n.name === name)) throw conflict(`Network "${name}" already exists`);
      const full = await nm.resolveAddress(fillDefaults(config), takenAddresses(all, name));
      await localPart(name, "create", full);
      try {
        await ctx.db.run(createNetwork, {
          name,
          description,
          config: full,
          memberKeys: [...NETWORK_MEMBER_KEYS],
          member: ctx.location(),
        });
      } catch (e) {
        await nm.delete(name).catch(() => {});
        throw e;
      }
    };

    /**
     * Second phase: the address is resolved once here (auto: a free /24), so every member's
     * bridge has the same one, as LXD's members share a network's global config; each member
     * checks it against what it has in use and brings its bridge up, all or nothing.
     */
    const createEverywhere = async (name: string, description: string, config: Record<string, string>) => {
      for (const k of Object.keys(config)) {
        if (isMemberKey(k)) throw badRequest(`Config key "${k}" is cluster member specific`);
      }
      const own = await read((tx) => pendingNetworkParts(tx, name));
      const all = await read((tx) => listNetworks(tx, null));
      const full = await nm.resolveAddress(fillDefaults(config), takenAddresses(all, name), name);
      const withOwn = (m: string) => ({ ...full, ...(own[m] ?? {}) });
      await onEveryMember(
        ctx,
        MEMBER_CALLS.networkPart,
        { name },
        { action: "create", config: withOwn },
        { action: "delete", config: withOwn },
        (action, cfg) => localPart(name, action, cfg),
      );
      try {
        await ctx.db.run(finishNetwork, { name, description, config: full });
      } catch (e) {
        // Another member's create of the same network finished first: the bridges are its now.
        if (errorMessage(e) === "The network is already created") throw e;
        await onEveryMember(
          ctx,
          MEMBER_CALLS.networkPart,
          { name },
          { action: "delete", config: withOwn },
          null,
          (action, cfg) => localPart(name, action, cfg),
        ).catch((err) =>
          ctx.log.error("Could not undo a network's parts", { network: name, err: String(err) })
        );
        throw e;
      }
    };

    app.get("/1.0/networks/:name", async (c) => {
      const name = c.req.param("name");
      const target = await targetOf(c);
      const member = target ?? (ctx.clustered() ? null : ctx.location());
      const { n, used } = await read((tx) => ({
        n: getNetwork(tx, name, member),
        used: networkUsedBy(tx, name),
      }));
      const v = view(n, target);
      return sync(c, networkJSON(v, used), { etag: etag([v.description, v.config]) });
    });

    const put = (patch: boolean) => async (c: Ctx) => {
      const name = c.req.param("name")!;
      const target = await targetOf(c);
      const member = target ?? (ctx.clustered() ? null : ctx.location());
      const all = await read((tx) => listNetworks(tx, null));
      const cur = await read((tx) => getNetwork(tx, name, member));
      preconditionCheck(c, [cur.description, view(cur, target).config]);
      const b = await readJson<NetworkBody>(c);
      const body = stringConfig(b.config);
      const description = b.description ?? (patch ? cur.description : "");
      if (target !== null) {
        // One member's own keys; the others may come along unchanged (lxc sends the whole config).
        for (const [k, v] of Object.entries(body)) {
          if (!isMemberKey(k) && cur.config[k] !== v) {
            throw badRequest(`Config key "${k}" may not be used as member-specific key`);
          }
        }
        const own = patch ? { ...split(cur.config, true), ...split(body, true) } : split(body, true);
        checkConfig(own);
        const global = split(cur.config, false);
        if (cur.memberStates[target] === "Created") {
          await onEveryMember(
            ctx,
            MEMBER_CALLS.networkPart,
            { name, only: [target] },
            { action: "update", config: () => ({ ...global, ...own }) },
            null,
            (action, cfg) => localPart(name, action, cfg),
          );
        }
        await ctx.db.run(updateNetworkMember, { name, member: target, config: own });
        ctx.events.lifecycle("network-updated", `/1.0/networks/${name}`);
        return emptySync(c);
      }
      if (ctx.clustered()) {
        if (cur.status !== "Created") {
          throw badRequest("Cannot update network global config when not in created state");
        }
        for (const k of Object.keys(body)) {
          if (isMemberKey(k)) throw badRequest(`Config key "${k}" is cluster member specific`);
        }
      }
      const config = patch ? { ...cur.config, ...body } : body;
      checkConfig(config);
      const full = await nm.resolveAddress(fillDefaults(config), takenAddresses(all, name), name);
      const own = await read((tx) =>
        Object.fromEntries(cur.locations.map((m) => [m, split(getNetwork(tx, name, m).config, true)]))
      );
      const old = await read((tx) =>
        Object.fromEntries(cur.locations.map((m) => [m, getNetwork(tx, name, m).config]))
      );
      // Every member applies the new config, or each one puts back what ran before.
      await onEveryMember(
        ctx,
        MEMBER_CALLS.networkPart,
        { name },
        { action: "update", config: (m) => ({ ...full, ...(own[m] ?? {}) }) },
        { action: "update", config: (m) => old[m] ?? cur.config },
        (action, cfg) => localPart(name, action, cfg),
      ).catch((e) => {
        throw badRequest(
          `Failed updating network "${name}": ${
            errorMessage(e).replace(/^Failed starting network "[^"]*": /, "")
          }`,
        );
      });
      await ctx.db.run(updateNetwork, {
        name,
        description,
        config: full,
        memberKeys: [...NETWORK_MEMBER_KEYS],
      });
      ctx.events.lifecycle("network-updated", `/1.0/networks/${name}`);
      return emptySync(c);
    };
    app.put("/1.0/networks/:name", put(false));
    app.patch("/1.0/networks/:name", put(true));

    app.delete("/1.0/networks/:name", async (c) => {
      const name = c.req.param("name");
      await lock.run("networks", async () => {
        const n = await read((tx) => getNetwork(tx, name, null));
        if ((await read((tx) => networkUsedBy(tx, name))).length > 0) {
          throw badRequest("The network is currently in use");
        }
        if (Object.values(n.memberStates).some((s) => s !== "Pending")) {
          const cfg = await read((tx) =>
            Object.fromEntries(n.locations.map((m) => [m, getNetwork(tx, name, m).config]))
          );
          await onEveryMember(
            ctx,
            MEMBER_CALLS.networkPart,
            { name },
            { action: "delete", config: (m) => cfg[m] ?? n.config },
            { action: "create", config: (m) => cfg[m] ?? n.config },
            (action, c) => localPart(name, action, c),
          );
        }
        await ctx.db.run(deleteNetwork, { name });
      });
      ctx.events.lifecycle("network-deleted", `/1.0/networks/${name}`);
      return emptySync(c);
    });

    /**
     * The leases of every member's dnsmasq, as LXD gathers them: a member asked by another (the
     * notifier's user agent) answers with its own only; members that are offline are skipped.
     */
    app.get("/1.0/networks/:name/leases", async (c) => {
      const name = c.req.param("name");
      await read((tx) => getNetwork(tx, name, null));
      const own = (await nm.leases(name)).map((l) => ({
        hostname: l.hostname,
        hwaddr: l.hwaddr,
        address: l.address,
        type: "dynamic",
        location: ctx.location(),
      }));
      const cluster = ctx.cluster;
      if (!cluster || !ctx.clustered() || c.req.header("User-Agent") === NOTIFIER_AGENT) return sync(c, own);
      const others = (await read(listNodes)).filter((n) =>
        n.address !== cluster.self.address() && cluster.heartbeats.isOnline(n.address)
      );
      const theirs = await Promise.all(
        others.map((n) =>
          cluster.self.clients.get(n.address).request<typeof own>(
            "GET",
            `/1.0/networks/${encodeURIComponent(name)}/leases`,
            { signal: AbortSignal.timeout(10_000) },
          ).then((r) => r.metadata, (e) => {
            ctx.log.warn("Could not get a member's leases", { member: n.name, err: errorMessage(e) });
            return [];
          })
        ),
      );
      return sync(c, [...own, ...theirs.flat()]);
    });
    return app;
  };
}

/** Brings up, at daemon start, every network this member runs (they may be gone after a reboot). */
export async function startNetworks(ctx: ServerContext, nm: NetworkManager): Promise<void> {
  const all = await ctx.db.read((tx) => listNetworks(tx, ctx.location()), { stale: true }).catch(() => []);
  for (const n of all) {
    if ((findNetworkState(n, ctx.location())) !== "Created") continue;
    try {
      await nm.start({ name: n.name, config: n.config });
    } catch (e) {
      ctx.log.error("Failed starting network", { network: n.name, err: errorMessage(e) });
    }
  }
}

function findNetworkState(n: NetworkRecord, member: string): string {
  return n.memberStates[member] ??
    (Object.keys(n.memberStates).length === 1 ? Object.values(n.memberStates)[0]! : n.status);
}

export { findNetwork };
