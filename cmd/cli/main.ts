/**
 * The client role's own entry: `deno run cmd/cli/main.ts shoal ARGS`, as the launcher runs its
 * bundle (bin/shoald). main.ts picks the role and imports it dynamically, and a dynamic import
 * costs a command ~10 ms more than the same modules imported statically (Deno prepares each
 * dynamic import's graph apart); this entry imports the client statically, and only it.
 * @module
 */
import { runClient } from "./mod.ts";

if (import.meta.main) Deno.exit(await runClient(Deno.args[0] || "shoal", Deno.args.slice(1)));
