/**
 * shoal: one executable, two roles picked by the name it is started as. `shoald` (or `lxd`)
 * is the daemon and its admin commands; `shoal` (or `lxc`) is the client. Under
 * `deno run main.ts` the first argument names the role.
 * @module
 */

const DAEMON = ["shoald", "lxd"];
const CLIENT = ["shoal", "lxc"];

function pickRole(): { role: string; args: string[] } {
  const exe = Deno.execPath().split("/").pop() ?? "";
  if (DAEMON.includes(exe) || CLIENT.includes(exe)) return { role: exe, args: Deno.args };
  const [first, ...rest] = Deno.args;
  return { role: first ?? "", args: rest };
}

if (import.meta.main) {
  const { role, args } = pickRole();
  let code: number;
  // Each role loads only its own modules: a client command starts in a fraction of the time
  // the daemon's modules (Hono, SQLite, TLS servers) would take to load.
  if (DAEMON.includes(role)) code = await (await import("./cmd/daemon/mod.ts")).runDaemonRole(role, args);
  else if (CLIENT.includes(role)) code = await (await import("./cmd/cli/mod.ts")).runClient(role, args);
  else {
    console.error(`Error: unknown role "${role}": start shoal as shoald (daemon) or shoal (client)`);
    code = 2;
  }
  Deno.exit(code);
}
