import { Command } from "commander";
import { loadYaml, YAML } from "../../lib/util/yaml.ts";
import { Client } from "../../lib/client/mod.ts";
import { statePaths } from "../../lib/daemon/paths.ts";
import type { Server } from "../../lib/wire/mod.ts";
import { readLine } from "../cli/context.ts";
import { clusterQuestions } from "./init_cluster.ts";
import { initPreseed, SECTIONS } from "./init_preseed.ts";
import { applyPreseed, type InitQuestions, type Preseed } from "./preseed.ts";

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

/** Whether the server listens on the network, and its trust password (as `lxd init` asks). */
const networkQuestions: InitQuestions = async (p, ask, askBool) => {
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
};

/** Whether cached images are updated automatically. */
const imageQuestions: InitQuestions = async (p, _ask, askBool) => {
  if (
    !await askBool(
      "Would you like stale cached images to be updated automatically? (yes/no) [default=yes]: ",
      true,
    )
  ) p.config = { ...(p.config ?? {}), "images.auto_update_interval": "0" };
};

/** The interactive questions, in the order `lxd init` asks them. */
const QUESTIONS: readonly InitQuestions[] = [clusterQuestions, networkQuestions, imageQuestions];

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
      await loadYaml();
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
      if (o.preseed) return await initPreseed();
      if (o.auto) {
        const config: Record<string, string> = {};
        if (o.networkAddress) config["core.https_address"] = `${o.networkAddress}:${o.networkPort ?? "8443"}`;
        if (o.trustPassword) config["core.trust_password"] = o.trustPassword;
        return await applyPreseed({ config }, SECTIONS);
      }
      const p: Preseed = {};
      for (const q of QUESTIONS) await q(p, ask, askBool);
      if (
        await askBool(
          'Would you like a YAML "lxd init" preseed to be printed? (yes/no) [default=no]: ',
          false,
        )
      ) {
        console.log(YAML.stringify(p, { indentSeq: false }));
      }
      await applyPreseed(p, SECTIONS);
    });
}
