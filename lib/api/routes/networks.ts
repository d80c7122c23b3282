import { Hono } from "hono";
import {
  createNetwork,
  deleteNetwork,
  findNetwork,
  getNetwork,
  listNetworks,
  type NetworkRecord,
  networkUsedBy,
  updateNetwork,
} from "../../db/mod.ts";
import {
  fillDefaults,
  interfaceNameProblem,
  linkExists,
  NETWORK_MEMBER_KEYS,
  networkConfigProblem,
  type NetworkManager,
} from "../../network/mod.ts";
import { badRequest, conflict, errorMessage, etag, nameProblem } from "../../util/mod.ts";
import { readJson } from "../body.ts";
import type { ApiEnv, Ctx, ServerContext } from "../context.ts";
import { emptySync, sync } from "../response.ts";
import { preconditionCheck } from "./instances_common.ts";

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

/** /1.0/networks: managed bridges, each a Linux bridge with NAT and dnsmasq on this member. */
export function networkRoutes(nm: NetworkManager): (ctx: ServerContext) => Hono<ApiEnv> {
  return (ctx) => {
    const app = new Hono<ApiEnv>();
    const read = <T>(fn: Parameters<typeof ctx.db.read<T>>[0]) => ctx.db.read(fn);

    app.get("/1.0/networks", async (c) => {
      const all = await read((tx) => listNetworks(tx, ctx.location()));
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
      const all = await read((tx) => listNetworks(tx, ctx.location()));
      if (all.some((n) => n.name === name)) throw conflict(`Network "${name}" already exists`);
      if (await linkExists(name)) {
        throw conflict(`Network "${name}" already exists: an interface of that name is on this member`);
      }
      const full = await nm.resolveAddress(fillDefaults(config), takenAddresses(all, name));
      try {
        await nm.start({ name, config: full });
      } catch (e) {
        await nm.delete(name).catch(() => {});
        throw badRequest(`Failed starting network "${name}": ${errorMessage(e)}`);
      }
      try {
        await ctx.db.run(createNetwork, {
          name,
          description: b.description ?? "",
          config: full,
          memberKeys: [...NETWORK_MEMBER_KEYS],
          member: ctx.location(),
        });
      } catch (e) {
        await nm.delete(name).catch(() => {});
        throw e;
      }
      ctx.events.lifecycle("network-created", `/1.0/networks/${name}`);
      c.header("Location", `/1.0/networks/${name}`);
      return sync(c, {});
    });

    app.get("/1.0/networks/:name", async (c) => {
      const name = c.req.param("name");
      const { n, used } = await read((tx) => ({
        n: getNetwork(tx, name, ctx.location()),
        used: networkUsedBy(tx, name),
      }));
      return sync(c, networkJSON(n, used), { etag: etag([n.description, n.config]) });
    });

    const put = (patch: boolean) => async (c: Ctx) => {
      const name = c.req.param("name")!;
      const all = await read((tx) => listNetworks(tx, ctx.location()));
      const cur = all.find((n) => n.name === name) ??
        await read((tx) => getNetwork(tx, name, ctx.location()));
      preconditionCheck(c, [cur.description, cur.config]);
      const b = await readJson<NetworkBody>(c);
      const body = stringConfig(b.config);
      const config = patch ? { ...cur.config, ...body } : body;
      checkConfig(config);
      const full = await nm.resolveAddress(fillDefaults(config), takenAddresses(all, name), name);
      try {
        await nm.start({ name, config: full });
      } catch (e) {
        // Put back what ran before, so a refused change changes nothing.
        await nm.start({ name, config: cur.config }).catch(() => {});
        throw badRequest(`Failed updating network "${name}": ${errorMessage(e)}`);
      }
      await ctx.db.run(updateNetwork, {
        name,
        description: b.description ?? (patch ? cur.description : ""),
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
      await ctx.db.run(deleteNetwork, { name });
      await nm.delete(name);
      ctx.events.lifecycle("network-deleted", `/1.0/networks/${name}`);
      return emptySync(c);
    });

    app.get("/1.0/networks/:name/leases", async (c) => {
      const name = c.req.param("name");
      await read((tx) => getNetwork(tx, name, ctx.location()));
      const leases = await nm.leases(name);
      return sync(
        c,
        leases.map((l) => ({
          hostname: l.hostname,
          hwaddr: l.hwaddr,
          address: l.address,
          type: "dynamic",
          location: ctx.location(),
        })),
      );
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
