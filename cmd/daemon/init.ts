import { Command } from "commander";
import YAML from "yaml";
import { Client } from "../../lib/client/mod.ts";
import { statePaths } from "../../lib/daemon/mod.ts";
import type { Server } from "../../lib/wire/mod.ts";
import { readAll, readLine } from "../cli/context.ts";
import { instanceSections } from "./init_instances.ts";

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

const sections: PreseedSection[] = [{
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
}, ...instanceSections];

/** Lets higher layers apply their preseed sections (storage pools, networks, cluster…). */
export function registerPreseedSection(s: PreseedSection): void {
  sections.push(s);
}

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

/** Applies a preseed through the local daemon. */
export async function applyPreseed(p: Preseed): Promise<void> {
  // Refuse what no layer can apply before anything is applied: no half-done init.
  const handled = new Set(sections.map((s) => s.name));
  for (const k of KNOWN) {
    const v = p[k as keyof Preseed];
    const given = v !== undefined && v !== null && !(typeof v === "object" && Object.keys(v).length === 0);
    if (given && !handled.has(k as keyof Preseed)) {
      throw new Error(`The preseed section "${k}" is not supported yet: remove it from the preseed`);
    }
  }
  const client = new Client({ kind: "unix", path: statePaths().socket }, { userAgent: "shoald init" });
  try {
    await client.get("/1.0");
  } catch (e) {
    client.close();
    throw new Error(
      `Unable to talk to the daemon (is shoald running on ${statePaths().socket}?): ${
        e instanceof Error ? e.message : e
      }`,
    );
  }
  try {
    for (const s of [...sections].sort((a, b) => a.order - b.order)) {
      if (p[s.name] !== undefined && p[s.name] !== null) await s.apply(client, p);
    }
  } finally {
    client.close();
  }
}

async function ask(q: string, def: string): Promise<string> {
  Deno.stdout.writeSync(new TextEncoder().encode(q));
  const line = await readLine();
  if (line === null) throw new Error("Unexpected end of input");
  return line.trim() === "" ? def : line.trim();
}

async function askBool(q: string, def: boolean): Promise<boolean> {
  for (;;) {
    const a = (await ask(q, def ? "yes" : "no")).toLowerCase();
    if (["yes", "y"].includes(a)) return true;
    if (["no", "n"].includes(a)) return false;
    console.log("Invalid input, try again.\n");
  }
}

/** Interactive questions that layers add (clustering, storage). */
export type InitQuestions = (
  p: Preseed,
  ask: (q: string, def: string) => Promise<string>,
  askBool: (q: string, def: boolean) => Promise<boolean>,
) => Promise<void>;
const questions: { order: number; run: InitQuestions }[] = [];

/** Registers interactive init questions. */
export function registerInitQuestions(order: number, run: InitQuestions): void {
  questions.push({ order, run });
}

registerInitQuestions(50, async (p, ask, askBool) => {
  if (p.config?.["core.https_address"]) return;
  if (
    await askBool(
      "Would you like the LXD server to be available over the network? (yes/no) [default=no]: ",
      false,
    )
  ) {
    // Word for word as lxd init asks, so that answers scripted for LXD fit.
    const addr = await ask("Address to bind LXD to (not including port) [default=all]: ", "all");
    const port = await ask("Port to bind LXD to [default=8443]: ", "8443");
    const host = addr === "all" ? "[::]" : addr.includes(":") ? `[${addr}]` : addr;
    p.config = { ...(p.config ?? {}), "core.https_address": `${host}:${port}` };
    for (;;) {
      const pw = await ask("Trust password for new clients: ", "");
      if (pw === await ask("Again: ", "")) {
        if (pw !== "") p.config["core.trust_password"] = pw;
        break;
      }
      console.log("Password mismatch, try again");
    }
  }
});

registerInitQuestions(70, async (p, _ask, askBool) => {
  if (
    !await askBool(
      "Would you like stale cached images to be updated automatically? (yes/no) [default=yes]: ",
      true,
    )
  ) p.config = { ...(p.config ?? {}), "images.auto_update_interval": "0" };
});

/** `init [--preseed] [--dump] [--auto …]`. */
export function initCommand(): Command {
  return new Command("init").description("Configure the daemon")
    .option("--preseed", "Pre-seed mode, expects YAML config from stdin")
    .option("--dump", "Dump the current configuration as a preseed")
    .option("--auto", "Automatic (non-interactive) mode")
    .option("--network-address <address>", "Address to bind to (default: none)")
    .option("--network-port <port>", "Port to bind to (default: 8443)")
    .option("--trust-password <password>", "Password required to add new clients")
    .action(async (o) => {
      if (o.dump) {
        const c = new Client({ kind: "unix", path: statePaths().socket });
        try {
          const s = await c.get<Server>("/1.0");
          const config = Object.fromEntries(Object.entries(s.config ?? {}).filter(([, v]) => v !== true));
          console.log(YAML.stringify({ config }, { indentSeq: false }).trimEnd());
        } finally {
          c.close();
        }
        return;
      }
      if (o.preseed) return await applyPreseed(parsePreseed(await readAll()));
      if (o.auto) {
        const config: Record<string, string> = {};
        if (o.networkAddress) config["core.https_address"] = `${o.networkAddress}:${o.networkPort ?? "8443"}`;
        if (o.trustPassword) config["core.trust_password"] = o.trustPassword;
        return await applyPreseed({ config });
      }
      const p: Preseed = {};
      for (const q of [...questions].sort((a, b) => a.order - b.order)) await q.run(p, ask, askBool);
      if (
        await askBool(
          'Would you like a YAML "lxd init" preseed to be printed? (yes/no) [default=no]: ',
          false,
        )
      ) {
        console.log(YAML.stringify(p, { indentSeq: false }));
      }
      await applyPreseed(p);
    });
}
