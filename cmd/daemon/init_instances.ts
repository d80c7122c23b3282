import type { Client } from "../../lib/client/mod.ts";
import { StatusError } from "../../lib/util/mod.ts";
import type { Preseed, PreseedSection } from "./preseed.ts";

async function exists(client: Client, path: string): Promise<Record<string, unknown> | null> {
  try {
    return await client.get<Record<string, unknown>>(path);
  } catch (e) {
    if (e instanceof StatusError && e.status === 404) return null;
    throw e;
  }
}

function entries(p: Preseed, key: "storage_pools" | "profiles" | "networks"): Record<string, unknown>[] {
  const v = p[key];
  if (!Array.isArray(v)) throw new Error(`Failed to parse the preseed: "${key}" must be a list`);
  return v;
}

/**
 * `storage_pools:` of the preseed: each pool is created unless it exists with the same driver,
 * as `lxd init --preseed` does.
 */
export const storagePoolsSection: PreseedSection = {
  name: "storage_pools",
  order: 20,
  async apply(client, p) {
    for (const pool of entries(p, "storage_pools")) {
      const name = String(pool.name ?? "");
      if (name === "") throw new Error("Failed to create storage pool: missing name");
      const cur = await exists(client, `/1.0/storage-pools/${encodeURIComponent(name)}`);
      if (cur) {
        if (pool.driver && cur.driver !== pool.driver) {
          throw new Error(`Storage pool "${name}" already exists with driver "${cur.driver}"`);
        }
        continue;
      }
      await client.request("POST", "/1.0/storage-pools", {
        body: {
          name,
          driver: pool.driver ?? "dir",
          description: pool.description ?? "",
          config: pool.config ?? {},
        },
      }).catch((e) => {
        throw new Error(`Failed to create storage pool "${name}": ${e instanceof Error ? e.message : e}`);
      });
    }
  },
};

/** `profiles:` of the preseed: each profile is created, or replaced when it exists (default). */
export const profilesSection: PreseedSection = {
  name: "profiles",
  order: 30,
  async apply(client, p) {
    for (const prof of entries(p, "profiles")) {
      const name = String(prof.name ?? "");
      if (name === "") throw new Error("Failed to create profile: missing name");
      const body = { description: prof.description, config: prof.config ?? {}, devices: prof.devices ?? {} };
      const cur = await exists(client, `/1.0/profiles/${encodeURIComponent(name)}`);
      const r = cur
        ? client.request("PUT", `/1.0/profiles/${encodeURIComponent(name)}`, {
          body: { ...body, description: prof.description ?? cur.description ?? "" },
        })
        : client.request("POST", "/1.0/profiles", {
          body: { name, ...body, description: prof.description ?? "" },
        });
      await r.catch((e) => {
        throw new Error(`Failed to apply profile "${name}": ${e instanceof Error ? e.message : e}`);
      });
    }
  },
};

/** `networks:` of the preseed: each managed bridge is created unless it exists, as `lxd init` does. */
export const networksSection: PreseedSection = {
  name: "networks",
  order: 25,
  async apply(client, p) {
    for (const net of entries(p, "networks")) {
      const name = String(net.name ?? "");
      if (name === "") throw new Error("Failed to create network: missing name");
      if (await exists(client, `/1.0/networks/${encodeURIComponent(name)}`)) continue;
      await client.request("POST", "/1.0/networks", {
        body: { name, type: net.type ?? "", description: net.description ?? "", config: net.config ?? {} },
      }).catch((e) => {
        throw new Error(`Failed to create network "${name}": ${e instanceof Error ? e.message : e}`);
      });
    }
  },
};

/** The preseed sections of storage, networks and profiles. */
export const instanceSections: PreseedSection[] = [storagePoolsSection, networksSection, profilesSection];
