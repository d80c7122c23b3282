import { YAML } from "../../lib/util/yaml.ts";
import { Client } from "../../lib/client/mod.ts";
import { statePaths } from "../../lib/daemon/paths.ts";
import type { Server } from "../../lib/wire/mod.ts";

/** The preseed document of `init --preseed` (LXD's InitPreseed). */
export interface Preseed {
  config?: Record<string, string>;
  networks?: Record<string, unknown>[];
  storage_pools?: Record<string, unknown>[];
  profiles?: Record<string, unknown>[];
  projects?: Record<string, unknown>[];
  cluster?: Record<string, unknown> | null;
}

/**
 * A section of the preseed that a layer knows how to apply. Sections run in order; each gets
 * the whole document (the cluster join must see the storage pools it has to match).
 */
export interface PreseedSection {
  name: keyof Preseed;
  /** Lower runs first. */
  order: number;
  apply(client: Client, preseed: Preseed): Promise<void>;
}

const KNOWN: readonly string[] = ["config", "networks", "storage_pools", "profiles", "projects", "cluster"];

/** `config:` of the preseed: the server's own keys, merged into what it has. */
export const configSection: PreseedSection = {
  name: "config",
  order: 10,
  async apply(client, p) {
    if (!p.config || Object.keys(p.config).length === 0) return;
    for (const [k, v] of Object.entries(p.config)) {
      if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") {
        throw new Error(`Invalid value for config key "${k}": expected a string`);
      }
    }
    const r = await client.request<Server>("GET", "/1.0");
    const config: Record<string, string | true> = { ...(r.metadata.config ?? {}) };
    for (const [k, v] of Object.entries(p.config)) config[k] = String(v);
    await client.request("PUT", "/1.0", { body: { config }, headers: r.etag ? { "If-Match": r.etag } : {} });
  },
};

/** Parses and checks a preseed document. */
export function parsePreseed(text: string): Preseed {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    throw new Error(`Failed to parse the preseed: ${e instanceof Error ? e.message : e}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new Error("Failed to parse the preseed: expected a YAML mapping");
  }
  for (const k of Object.keys(doc)) {
    if (!KNOWN.includes(k)) throw new Error(`Failed to parse the preseed: unknown section "${k}"`);
  }
  return doc as Preseed;
}

/** A client of the local daemon once it has answered, or a clear error naming its socket. */
export async function connectLocal(): Promise<Client> {
  const client = new Client({ kind: "unix", path: statePaths().socket }, { userAgent: "shoald init" });
  try {
    await client.get("/1.0");
    return client;
  } catch (e) {
    client.close();
    throw new Error(
      `Unable to talk to the daemon (is shoald running on ${statePaths().socket}?): ${
        e instanceof Error ? e.message : e
      }`,
    );
  }
}

/**
 * Applies a preseed through the local daemon, section by section, on `connection` (from
 * connectLocal, asked for while the preseed was read) or a connection of its own. Closes it.
 */
export async function applyPreseed(
  p: Preseed,
  sections: readonly PreseedSection[],
  connection?: Promise<Client>,
): Promise<void> {
  // Refuse what no layer can apply before anything is applied: no half-done init.
  const handled = new Set(sections.map((s) => s.name));
  for (const k of KNOWN) {
    const v = p[k as keyof Preseed];
    const given = v !== undefined && v !== null && !(typeof v === "object" && Object.keys(v).length === 0);
    if (given && !handled.has(k as keyof Preseed)) {
      void connection?.then((c) => c.close(), () => {});
      throw new Error(`The preseed section "${k}" is not supported yet: remove it from the preseed`);
    }
  }
  const client = await (connection ?? connectLocal());
  try {
    for (const s of [...sections].sort((a, b) => a.order - b.order)) {
      if (p[s.name] !== undefined && p[s.name] !== null) await s.apply(client, p);
    }
  } finally {
    client.close();
  }
}

/** Interactive questions of `init` that fill in a preseed (clustering, network, images). */
export type InitQuestions = (
  p: Preseed,
  ask: (q: string, def: string) => Promise<string>,
  askBool: (q: string, def: boolean) => Promise<boolean>,
) => Promise<void>;
