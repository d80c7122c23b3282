import { Command } from "commander";
import type { Operation } from "../../lib/wire/mod.ts";
import { writeAllSync, writeStdout } from "../../lib/util/mod.ts";
import type { CliContext } from "./context.ts";
import { operationSocket, type OpWebSocket } from "../../lib/client/mod.ts";

/** Forwards stdin to a socket: binary messages, then the empty text message that means EOF. */
async function sendStdin(socket: OpWebSocket, stop: Promise<void>): Promise<void> {
  const reader = Deno.stdin.readable.getReader();
  const stopped = stop.then(() => null);
  for (;;) {
    const r = await Promise.race([reader.read(), stopped]);
    if (r === null || r.done) break;
    socket.send(r.value);
  }
  socket.send("");
  reader.releaseLock();
}

/** Collects a stream socket until its end-of-stream barrier (or close). */
function receive(socket: OpWebSocket, write: (b: Uint8Array) => void): Promise<void> {
  const done = Promise.withResolvers<void>();
  socket.onMessage((d) => {
    if (typeof d === "string") {
      if (d === "") done.resolve();
      else write(new TextEncoder().encode(d));
    } else write(d);
  });
  void socket.closed.then(() => done.resolve());
  return done.promise;
}

/** `exec NAME [--env K=V] [-t|-T] [-n] -- COMMAND…`: LXD's exec protocol; exits with the command's code. */
export function execCommand(ctx: CliContext): Command {
  return new Command("exec").description("Execute commands in instances")
    .argument("<instance>", "[remote:]instance")
    .argument("<command...>", "command and its arguments (after --)")
    .option("--env <key=value...>", "Environment variable to set (e.g. HOME=/home/foo)")
    .option("-t, --force-interactive", "Force pseudo-terminal allocation")
    .option("-T, --force-noninteractive", "Disable pseudo-terminal allocation")
    .option("-n, --disable-stdin", "Disable stdin (reads from /dev/null)")
    .option("--cwd <directory>", "Directory to run the command in")
    .option("--user <uid>", "User ID to run the command as", "0")
    .option("--group <gid>", "Group ID to run the command as", "0")
    .action(async (
      inst: string,
      command: string[],
      o: {
        env?: string[];
        forceInteractive?: boolean;
        forceNoninteractive?: boolean;
        disableStdin?: boolean;
        cwd?: string;
        user: string;
        group: string;
      },
    ) => {
      if (o.forceInteractive && o.forceNoninteractive) {
        throw new Error("You can't pass -t and -T at the same time");
      }
      const p = ctx.parseRemote(inst);
      const c = await ctx.client(p.remote);
      const env: Record<string, string> = {};
      const term = Deno.env.get("TERM");
      if (term) env.TERM = term;
      for (const e of o.env ?? []) {
        const i = e.indexOf("=");
        env[i < 0 ? e : e.slice(0, i)] = i < 0 ? "" : e.slice(i + 1);
      }
      const stdinTty = Deno.stdin.isTerminal();
      const stdoutTty = Deno.stdout.isTerminal();
      const interactive = !o.disableStdin &&
        (o.forceInteractive || (!o.forceNoninteractive && stdinTty && stdoutTty));
      let width = 0;
      let height = 0;
      if (stdoutTty) ({ columns: width, rows: height } = Deno.consoleSize());
      const r = await c.request<Operation>("POST", `/1.0/instances/${encodeURIComponent(p.name)}/exec`, {
        body: {
          command,
          environment: env,
          "wait-for-websocket": true,
          interactive,
          width,
          height,
          user: Number(o.user),
          group: Number(o.group),
          cwd: o.cwd ?? "",
        },
      });
      const op = r.metadata;
      const fds = (op.metadata?.fds ?? {}) as Record<string, string>;
      const control = await operationSocket(c, op.id, fds.control!);
      const finished = Promise.withResolvers<void>();
      let dataDone: Promise<unknown>;
      const cleanups: (() => void)[] = [];
      if (interactive) {
        const tty = await operationSocket(c, op.id, fds["0"]!);
        if (stdinTty) {
          Deno.stdin.setRaw(true);
          cleanups.push(() => Deno.stdin.setRaw(false));
        }
        const resize = () => {
          const s = Deno.consoleSize();
          control.send(JSON.stringify({
            command: "window-resize",
            args: { width: String(s.columns), height: String(s.rows) },
          }));
        };
        if (stdoutTty) {
          Deno.addSignalListener("SIGWINCH", resize);
          cleanups.push(() => Deno.removeSignalListener("SIGWINCH", resize));
        }
        void sendStdin(tty, finished.promise);
        dataDone = receive(tty, writeStdout);
      } else {
        const [i, out, err] = await Promise.all(
          ["0", "1", "2"].map((k) => operationSocket(c, op.id, fds[k]!)),
        );
        if (o.disableStdin) i!.send("");
        else void sendStdin(i!, finished.promise);
        dataDone = Promise.all([
          receive(out!, writeStdout),
          receive(err!, (b) => writeAllSync(Deno.stderr, b)),
        ]);
        // Ctrl-C and friends go to the command, as lxc forwards them.
        for (const [sig, n] of [["SIGINT", 2], ["SIGTERM", 15], ["SIGHUP", 1]] as const) {
          const h = () => control.send(JSON.stringify({ command: "signal", signal: n }));
          Deno.addSignalListener(sig, h);
          cleanups.push(() => Deno.removeSignalListener(sig, h));
        }
      }
      const done = await c.waitOperation(op.id);
      await Promise.race([dataDone, new Promise((res) => setTimeout(res, 5000))]);
      finished.resolve();
      for (const f of cleanups) f();
      if (done.status_code !== 200) throw new Error(done.err || `Operation ${done.status}`);
      const code = Number(done.metadata?.return ?? 0);
      ctx.close();
      // stdin may still be blocked in a read: leave with the command's code now.
      Deno.exit(code);
    });
}
