/**
 * The daemon role (`shoald`, or `lxd`): run the daemon, and the admin commands that work with
 * it (waitready, shutdown) or without it (init, sql, cluster recovery).
 * @module
 */
import type { Command } from "commander";
import { Client } from "../../lib/client/mod.ts";
// The daemon's own modules (Hono, SQLite, Raft, TLS servers) load only when it runs: the admin
// commands (init, sql, cluster, waitready) are clients of a running daemon and start without them.
import { stateDir, statePaths } from "../../lib/daemon/paths.ts";
import { errorMessage, sleep } from "../../lib/util/mod.ts";
import { VERSION } from "../../lib/version.ts";

async function runDaemon(o: { debug?: boolean; verbose?: boolean }): Promise<void> {
  const { Daemon, releaseMemoryPeriodically } = await import("../../lib/daemon/mod.ts");
  const d = await Daemon.start({
    dir: stateDir(),
    version: VERSION,
    logLevel: o.debug ? "debug" : o.verbose ? "info" : "warning",
  });
  // What only the start used goes back to the kernel (lib/daemon/memory.ts), and what a bootstrap,
  // join or removal (its own or another member's, which it took part in) used once it is done.
  // Counted from when this member saw the change itself: its own lifecycle event, or a Raft
  // configuration it applied that adds or removes a member. Another member's lifecycle event reaches it by the event relay, 3 s
  // or more after a join (the newcomer's stream opens late and replays it): a leader that did
  // the join's work then still held it 10 s after the join (61 MiB), and more on a loaded machine.
  const release = releaseMemoryPeriodically();
  const unsubscribe = d.events.subscribe({ types: ["lifecycle"], localOnly: true }, (e) => {
    const action = (e.metadata as { action?: string }).action ?? "";
    if (/^cluster-(enabled|member-added|member-removed)$/.test(action)) release.settled();
  });
  // Members coming or going only: a change of roles (a spare promoted after a failure) is no
  // start of anything, and the longer pause of the drop's collection does not belong there.
  const confChanged = d.gateway.onConfChange;
  let members = "";
  d.gateway.onConfChange = (conf) => {
    confChanged?.(conf);
    const now = [...conf.voters, ...conf.standbys, ...conf.spares].sort((a, b) => a - b).join(",");
    if (now !== members) release.settled();
    members = now;
  };
  const stop = (signal: string) => () => void d.shutdown(`received ${signal}`);
  Deno.addSignalListener("SIGTERM", stop("SIGTERM"));
  Deno.addSignalListener("SIGINT", stop("SIGINT"));
  await d.stopped;
  unsubscribe();
  release.stop();
}

function localClient(): Client {
  return new Client({ kind: "unix", path: statePaths().socket });
}

async function waitReady(timeoutSeconds: number): Promise<void> {
  const deadline = timeoutSeconds > 0 ? Date.now() + timeoutSeconds * 1000 : Infinity;
  let last = "";
  for (;;) {
    const c = localClient();
    try {
      await c.request("GET", "/internal/ready");
      return;
    } catch (e) {
      last = errorMessage(e);
    } finally {
      c.close();
    }
    if (Date.now() > deadline) {
      throw new Error(`Daemon still not running after ${timeoutSeconds}s timeout (${last})`);
    }
    await sleep(50);
  }
}

async function shutdown(timeoutSeconds: number): Promise<void> {
  const c = localClient();
  try {
    await c.request("PUT", "/internal/shutdown");
  } catch (e) {
    c.close();
    throw new Error(`Failed to shut down the daemon: ${errorMessage(e)}`);
  }
  c.close();
  // The daemon is gone when its socket no longer answers.
  const deadline = timeoutSeconds > 0 ? Date.now() + timeoutSeconds * 1000 : Infinity;
  for (;;) {
    try {
      const conn = await Deno.connect({ transport: "unix", path: statePaths().socket });
      conn.close();
    } catch {
      return;
    }
    if (Date.now() > deadline) throw new Error(`Daemon still running after ${timeoutSeconds}s timeout`);
    await sleep(50);
  }
}

/**
 * Two forms go straight to their action, without commander:
 * - `init --preseed` exactly, the form scripts run at every bootstrap and join: commander and the
 *   Node.js built-ins under it (events, process, fs) cost ~25 ms of the process's start, a tenth
 *   of a whole bootstrap;
 * - the daemon itself with no flag or only its log-level flags: a module once loaded stays in the
 *   heap for as long as the process runs, and commander (a CommonJS package, with child_process
 *   and the other built-ins it requires) and the init, sql and cluster commands' modules are
 *   ~1 MiB of a member's memory at rest that it never uses again (bench/memory.ts).
 * Every other form, and these with any other flag, is parsed by commander below (whose actions
 * are the same functions).
 */
function direct(argv: string[]): (() => Promise<void>) | null {
  if (argv.length === 2 && argv[0] === "init" && argv[1] === "--preseed") {
    return async () => await (await import("./init_preseed.ts")).initPreseed();
  }
  const levels = new Set(["-d", "--debug", "-v", "--verbose"]);
  if (argv.every((a) => levels.has(a))) {
    const has = (...names: string[]) => argv.some((a) => names.includes(a));
    return () => runDaemon({ debug: has("-d", "--debug"), verbose: has("-v", "--verbose") });
  }
  return null;
}

/** Runs the daemon role with argv (without the role); returns the exit code. */
export async function runDaemonRole(name: string, argv: string[]): Promise<number> {
  const fast = direct(argv);
  if (fast) {
    try {
      await fast();
      return 0;
    } catch (e) {
      console.error(`Error: ${errorMessage(e)}`);
      return 1;
    }
  }
  const [{ Command, CommanderError }, { initCommand }, { sqlCommand }, { clusterCommand }] = await Promise
    .all([
      import("commander"),
      import("./init.ts"),
      import("./sql.ts"),
      import("./cluster.ts"),
    ]);
  const program = new Command(name)
    .description("The shoal daemon (an LXD-compatible cluster member)")
    .option("-d, --debug", "Show all debug messages")
    .option("-v, --verbose", "Show all information messages")
    .option(
      "--group <group>",
      "The group of users that will be allowed to talk to the daemon (accepted for lxd compatibility)",
    )
    .option(
      "--logfile <path>",
      "Path to the log file (accepted for lxd compatibility; logs go to $SHOAL_DIR/logs)",
    )
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(s.replace(/^error: /, "Error: ")) })
    .action(async (o) => await runDaemon(o));
  program.command("waitready").description("Wait for the daemon to be ready to process requests")
    .option("-t, --timeout <seconds>", "Number of seconds to wait before giving up", "0")
    .action(async (o: { timeout: string }) => await waitReady(Number(o.timeout)));
  program.command("shutdown").description("Tell the daemon to shutdown all instances and exit")
    .option("-t, --timeout <seconds>", "Number of seconds to wait before giving up", "0")
    .action(async (o: { timeout: string }) => await shutdown(Number(o.timeout)));
  program.command("version").description("Show the server version").action(() => console.log(VERSION));
  program.addCommand(initCommand());
  program.addCommand(sqlCommand());
  program.addCommand(clusterCommand());
  // addCommand() does not pass output settings down: every command reports as lxd does.
  const lxdStyle = (cmd: Command) => {
    cmd.exitOverride().configureOutput({
      outputError: (s, write) => write(s.replace(/^error: /, "Error: ")),
    });
    cmd.commands.forEach(lxdStyle);
  };
  lxdStyle(program);
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help"
      ) return 0;
      return e.exitCode || 1;
    }
    console.error(`Error: ${errorMessage(e)}`);
    return 1;
  }
}
