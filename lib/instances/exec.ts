/**
 * LXD's exec protocol over websockets: in non-interactive mode one socket each for stdin,
 * stdout and stderr, in interactive mode one socket for a pty; plus a control socket for
 * window resizes and signals. Binary messages carry data; an empty text message marks the end
 * of a stream (shared.WebsocketSendStream). The exit code lands in the operation's `return`.
 */
import type { Operation, OperationSpec, OpSocket } from "../operations/mod.ts";
import { badRequest } from "../util/mod.ts";
import type { LxcDriver } from "./lxc.ts";
import { Pty } from "./pty.ts";

/** POST /1.0/instances/NAME/exec (LXD's InstanceExecPost). */
export interface ExecRequest {
  command: string[];
  environment?: Record<string, string>;
  "wait-for-websocket"?: boolean;
  interactive?: boolean;
  "record-output"?: boolean;
  width?: number;
  height?: number;
  user?: number;
  group?: number;
  cwd?: string;
}

/** How to run the command: the full argv of the attaching process on the host. */
export interface ExecTarget {
  argv: string[];
  /** Where recorded output goes, and the API path it is served under. */
  recordDir: string;
  recordUrl: string;
}

/**
 * What lxc-attach runs for an exec request in the container `key` (liblxc's name; `name` the
 * API's), with LXD's default environment under the instance's environment.* keys.
 */
export function attachTarget(
  lxc: LxcDriver,
  key: string,
  name: string,
  config: Record<string, string>,
  req: ExecRequest,
): ExecTarget {
  if (!Array.isArray(req.command) || req.command.length === 0) throw badRequest("Missing command");
  const env: Record<string, string> = { ...(req.environment ?? {}) };
  for (const [k, v] of Object.entries(config)) {
    if (k.startsWith("environment.") && !(k.slice(12) in env)) env[k.slice(12)] = v;
  }
  env.PATH ??= "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  if (!req.user) {
    env.HOME ??= "/root";
    env.USER ??= "root";
  }
  env.LANG ??= "C.UTF-8";
  let command = req.command;
  // lxc-attach has no working-directory option: change directory inside, then exec.
  if (req.cwd && req.cwd !== "") command = ["/bin/sh", "-c", 'cd "$0" && exec "$@"', req.cwd, ...command];
  return {
    argv: ["lxc-attach", ...lxc.attachArgs(key, command, env, req.user ?? 0, req.group ?? 0)],
    recordDir: lxc.dir(key),
    recordUrl: `/1.0/instances/${name}/logs`,
  };
}

function secret(): string {
  const b = crypto.getRandomValues(new Uint8Array(32));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/** Sends a signal to the attached command: the children of lxc-attach (the command itself). */
function signalChildren(pid: number, signal: Deno.Signal): void {
  let children: number[] = [];
  try {
    children = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/).filter((x) =>
      x !== ""
    ).map(Number);
  } catch { /* gone */ }
  for (const c of children) {
    try {
      Deno.kill(c, signal);
    } catch { /* gone */ }
  }
}

/**
 * How long an exec or console operation waits for its client to connect every websocket. LXD
 * waits 5 s; a client on a loaded two-core machine can take longer, and its command then fails
 * having run nothing. A client that never comes costs only the wait.
 */
const WEBSOCKET_WAIT_MS = 30_000;

const SIGNALS: Record<number, Deno.Signal> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  9: "SIGKILL",
  10: "SIGUSR1",
  12: "SIGUSR2",
  15: "SIGTERM",
  18: "SIGCONT",
  19: "SIGSTOP",
  20: "SIGTSTP",
  28: "SIGWINCH",
};

/** A running session's handles for the control socket. */
interface Running {
  pid: number;
  pty: Pty | null;
  finished: boolean;
}

/**
 * Holds what a client sends before the command is running: lxc starts streaming stdin as soon
 * as its socket is open, which can be before the process exists.
 */
function buffered(socket: OpSocket): OpSocket {
  const queue: (string | Uint8Array)[] = [];
  let onMsg: ((d: string | Uint8Array) => void) | null = null;
  let closed = false;
  let onClosed: (() => void) | null = null;
  socket.onMessage((d) => (onMsg ? onMsg(d) : queue.push(d)));
  socket.onClose(() => {
    closed = true;
    onClosed?.();
  });
  return {
    send: (d) => socket.send(d),
    close: (code, reason) => socket.close(code, reason),
    onMessage(h) {
      onMsg = h;
      for (const d of queue.splice(0)) h(d);
    },
    onClose(h) {
      onClosed = h;
      if (closed) h();
    },
  };
}

function toBytes(d: string | Uint8Array): Uint8Array {
  return typeof d === "string" ? new TextEncoder().encode(d) : d;
}

/**
 * The websockets of one exec or console session: the client connects each by its secret, and
 * the control socket (resizes, signals) is handled as soon as it comes. `kill` ends the process.
 */
function websocketSession(fds: Record<string, string>, required: string[]) {
  const sockets = new Map<string, OpSocket>();
  const allConnected = Promise.withResolvers<void>();
  const controlConnected = Promise.withResolvers<OpSocket | null>();
  const state: Running = { pid: -1, pty: null, finished: false };
  const kill = () => {
    if (state.finished || state.pid < 0) return;
    signalChildren(state.pid, "SIGKILL");
    try {
      Deno.kill(state.pid, "SIGKILL");
    } catch { /* gone */ }
  };
  handleControl(controlConnected.promise, state, kill);
  return {
    sockets,
    state,
    kill,
    connect(given: string, socket: OpSocket): void {
      const fd = Object.keys(fds).find((k) => fds[k] === given);
      if (fd === undefined || sockets.has(fd)) {
        socket.close(1008, fd === undefined ? "not authorized" : "Websocket number already connected");
        return;
      }
      const held = buffered(socket);
      sockets.set(fd, held);
      if (fd === "control") controlConnected.resolve(held);
      if (required.every((k) => sockets.has(k))) allConnected.resolve();
    },
    /** Waits for every required socket, for WEBSOCKET_WAIT_MS at most. */
    async connected(): Promise<void> {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((
        r,
      ) => (timer = setTimeout(() => r("timeout"), WEBSOCKET_WAIT_MS)));
      const got = await Promise.race([allConnected.promise, timeout]);
      clearTimeout(timer);
      if (got === "timeout") {
        for (const s of sockets.values()) s.close();
        throw new Error(`Timed out waiting for websockets to connect (${WEBSOCKET_WAIT_MS / 1000} s)`);
      }
    },
    /** The process is gone: no more control messages, every socket closed. */
    finish(): void {
      state.finished = true;
      controlConnected.resolve(null);
      for (const s of sockets.values()) s.close(1000, "");
    },
  };
}

/**
 * The operation of one exec: with wait-for-websocket, a websocket operation whose sockets the
 * client connects; without, a task that runs the command and (record-output) keeps its output.
 */
export function execOperation(
  req: ExecRequest,
  target: ExecTarget,
  resources: Record<string, string[]>,
): OperationSpec {
  const interactive = req.interactive === true;
  if (!req["wait-for-websocket"]) return recordedExec(req, target, resources);
  const fds: Record<string, string> = interactive
    ? { "0": secret(), control: secret() }
    : { "0": secret(), "1": secret(), "2": secret(), control: secret() };
  // Old clients do not connect control in non-interactive mode, so it is not required (as LXD).
  const session = websocketSession(fds, Object.keys(fds).filter((k) => interactive || k !== "control"));
  return {
    class: "websocket",
    description: "Executing command",
    resources,
    metadata: { fds, command: req.command, environment: req.environment ?? {}, interactive },
    connect: (_op, given, socket) => session.connect(given, socket),
    async run(_op: Operation) {
      await session.connected();
      let code: number;
      try {
        code = interactive
          ? await runInteractive(req, target, session.sockets.get("0")!, session.state)
          : await runPiped(target, session.sockets, session.state);
      } finally {
        session.finish();
      }
      return { return: code };
    },
  };
}

function handleControl(connected: Promise<OpSocket | null>, state: Running, kill: () => void): void {
  void connected.then((socket) => {
    if (!socket) return;
    socket.onMessage((data) => {
      let msg: { command?: string; args?: Record<string, string>; signal?: number };
      try {
        msg = JSON.parse(new TextDecoder().decode(toBytes(data)));
      } catch {
        return;
      }
      if (msg.command === "window-resize" && state.pty) {
        state.pty.resize(Number(msg.args?.width ?? 0), Number(msg.args?.height ?? 0));
      } else if (msg.command === "signal" && typeof msg.signal === "number" && state.pid > 0) {
        const sig = SIGNALS[msg.signal];
        if (sig) signalChildren(state.pid, sig);
      }
    });
    socket.onClose(() => {
      if (!state.finished) kill();
    });
  });
}

async function pump(stream: ReadableStream<Uint8Array>, socket: OpSocket | undefined): Promise<void> {
  for await (const chunk of stream) socket?.send(chunk);
  // The end-of-stream barrier lxc's client waits for.
  socket?.send("");
}

async function runPiped(target: ExecTarget, sockets: Map<string, OpSocket>, state: Running): Promise<number> {
  const [cmd, ...args] = target.argv;
  const child = new Deno.Command(cmd!, { args, stdin: "piped", stdout: "piped", stderr: "piped" }).spawn();
  state.pid = child.pid;
  const stdin = child.stdin.getWriter();
  let stdinOpen = true;
  const closeStdin = () => {
    if (!stdinOpen) return;
    stdinOpen = false;
    stdin.close().catch(() => {});
  };
  const input = sockets.get("0");
  // Input is written in order, one message after the other.
  let writing = Promise.resolve();
  input?.onMessage((d) => {
    if (!stdinOpen) return;
    if (typeof d === "string" && d === "") {
      writing = writing.then(closeStdin);
      return;
    }
    const bytes = toBytes(d);
    writing = writing.then(() => stdinOpen ? stdin.write(bytes) : undefined).catch(() => {
      stdinOpen = false;
    });
  });
  input?.onClose(() => void writing.then(closeStdin));
  const out = pump(child.stdout, sockets.get("1"));
  const err = pump(child.stderr, sockets.get("2"));
  const status = await child.status;
  await Promise.all([out, err]);
  writing.then(closeStdin);
  return status.code;
}

async function runInteractive(
  req: ExecRequest,
  target: ExecTarget,
  socket: OpSocket,
  state: Running,
  /** What the client leaving does (exec: the command gets SIGHUP, as from a closed terminal). */
  clientGone?: () => void,
): Promise<number> {
  const pty = new Pty();
  state.pty = pty;
  pty.resize(req.width && req.width > 0 ? req.width : 80, req.height && req.height > 0 ? req.height : 24);
  // setsid -c makes the pty the controlling terminal of lxc-attach, which then runs the command
  // on a pty of its own inside the container and passes resizes on.
  const child = new Deno.Command("sh", {
    args: ["-c", 'exec setsid -c "$@" <"$PTS" >"$PTS" 2>&1', "sh", ...target.argv],
    env: { PTS: pty.slave },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  state.pid = child.pid;
  socket.onMessage((d) => {
    const bytes = toBytes(d);
    if (bytes.length > 0) pty.write(bytes);
  });
  socket.onClose(() => {
    if (!state.finished) {
      if (clientGone) clientGone();
      else signalChildren(child.pid, "SIGHUP");
    }
  });
  const output = (async () => {
    for (;;) {
      const chunk = await pty.read();
      if (chunk === null) break;
      socket.send(chunk.slice());
    }
  })();
  const status = await child.status;
  // Output still buffered in the pty drains before the read sees the end.
  await Promise.race([output, new Promise((r) => setTimeout(r, 2000))]);
  socket.send("");
  pty.close();
  return status.code;
}

/**
 * The operation of `lxc console` (LXD's consoleWs, type "console"): a data socket and a control
 * socket; the container's console (tty 0) through lxc-console on a pty of ours, as LXD runs its
 * forkconsole on one. Closing either socket detaches; the console itself stays for the next.
 */
export function consoleOperation(
  size: { width?: number; height?: number },
  argv: string[],
  resources: Record<string, string[]>,
): OperationSpec {
  const fds: Record<string, string> = { "0": secret(), control: secret() };
  const session = websocketSession(fds, Object.keys(fds));
  return {
    class: "websocket",
    description: "Showing console",
    resources,
    metadata: { fds },
    connect: (_op, given, socket) => session.connect(given, socket),
    async run() {
      await session.connected();
      try {
        // The client leaving (its data socket closes) detaches at once.
        await runInteractive(
          { command: argv, ...size },
          { argv, recordDir: "", recordUrl: "" },
          session.sockets.get("0")!,
          session.state,
          session.kill,
        );
      } finally {
        session.finish();
      }
      return {};
    },
  };
}

/** exec without websockets: runs to the end, keeping stdout/stderr as files when asked. */
function recordedExec(
  req: ExecRequest,
  target: ExecTarget,
  resources: Record<string, string[]>,
): OperationSpec {
  return {
    class: "task",
    description: "Executing command",
    resources,
    metadata: { command: req.command, environment: req.environment ?? {}, interactive: false },
    async run(op) {
      const [cmd, ...args] = target.argv;
      const record = req["record-output"] === true;
      const child = new Deno.Command(cmd!, {
        args,
        stdin: "null",
        stdout: record ? "piped" : "null",
        stderr: record ? "piped" : "null",
      }).spawn();
      const output: Record<string, string> = {};
      const writes: Promise<void>[] = [];
      if (record) {
        await Deno.mkdir(target.recordDir, { recursive: true });
        for (
          const [fd, stream, ext] of [["1", child.stdout, "stdout"], ["2", child.stderr, "stderr"]] as const
        ) {
          const file = `exec_${op.id}.${ext}`;
          writes.push(
            Deno.open(`${target.recordDir}/${file}`, { write: true, create: true, truncate: true }).then((
              f,
            ) => stream.pipeTo(f.writable)),
          );
          output[fd] = `${target.recordUrl}/${file}`;
        }
      }
      const status = await child.status;
      await Promise.all(writes);
      return record ? { return: status.code, output } : { return: status.code };
    },
  };
}
