/**
 * The daemon role's own entry: `deno run cmd/daemon/main.ts shoald ARGS`, as the launcher runs
 * its bundle (bin/shoald; see cmd/cli/main.ts why not main.ts). The daemon's own modules still
 * load only when it runs (runDaemonRole imports them).
 * @module
 */
import { runDaemonRole } from "./mod.ts";

if (import.meta.main) Deno.exit(await runDaemonRole(Deno.args[0] || "shoald", Deno.args.slice(1)));
