import { Client } from "../../lib/client/mod.ts";
import { writeStdout } from "../../lib/util/mod.ts";
import {
  clientCertificate,
  type ClientConfig,
  confDir,
  readClientConfig,
  readServerCert,
} from "./config_file.ts";

/** Global flags every command sees. */
export interface GlobalFlags {
  project?: string;
  quiet?: boolean;
  debug?: boolean;
  forceLocal?: boolean;
}

/** What a command needs: config, clients per remote, output. */
export class CliContext {
  readonly config: ClientConfig;
  readonly confDir: string;
  readonly name: string;
  /** --project: every request is about this project (else the remote's own, else default). */
  project: string | undefined;
  /** --quiet: no progress lines. */
  quiet = false;
  #clients = new Map<string, Client>();

  constructor(name: string) {
    this.name = name;
    this.confDir = confDir();
    this.config = readClientConfig(this.confDir);
  }

  /** Splits "remote:rest" where remote is a known remote; otherwise the default remote. */
  parseRemote(arg: string): { remote: string; name: string } {
    const i = arg.indexOf(":");
    if (i >= 0) {
      const remote = arg.slice(0, i);
      if (remote in this.config.remotes) return { remote, name: arg.slice(i + 1) };
      if (remote !== "" && !/^[[\d]/.test(arg)) throw new Error(`The remote "${remote}" doesn't exist`);
    }
    return { remote: this.config["default-remote"], name: arg };
  }

  /** The client of a remote (cached for the command's life). */
  async client(remote = this.config["default-remote"]): Promise<Client> {
    const cached = this.#clients.get(remote);
    if (cached) return cached;
    const r = this.config.remotes[remote];
    if (!r) throw new Error(`The remote "${remote}" doesn't exist`);
    let c: Client;
    if (r.addr.startsWith("unix:")) {
      const path = r.addr.replace(/^unix:\/\//, "") ||
        `${Deno.env.get("SHOAL_DIR") || "/var/lib/shoal"}/unix.socket`;
      // Kept-alive connections, as lxc's: a command's requests after the first skip the connect.
      c = new Client({ kind: "unix", path }, {
        userAgent: `${this.name}`,
        project: this.projectOf(remote),
        keepAlive: true,
      });
    } else {
      const serverCert = readServerCert(remote, this.confDir);
      if (!serverCert) {
        throw new Error(`No certificate pinned for remote "${remote}": add it again with remote add`);
      }
      c = new Client({
        kind: "https",
        url: r.addr,
        serverCert,
        clientCert: await clientCertificate(this.confDir),
      }, { project: this.projectOf(remote), keepAlive: true });
    }
    this.#clients.set(remote, c);
    return c;
  }

  /** The project requests to a remote are about: --project, else the remote's (project switch). */
  projectOf(remote = this.config["default-remote"]): string | undefined {
    return this.project || this.config.remotes[remote]?.project || undefined;
  }

  /** Writes to stdout. */
  print(text: string): void {
    writeStdout(text);
  }

  /** Prints a line. */
  println(text = ""): void {
    this.print(text + "\n");
  }

  /** Asks a question on the terminal and returns the answer line. */
  async ask(question: string): Promise<string> {
    this.print(question);
    return (await readLine()) ?? "";
  }

  close(): void {
    for (const c of this.#clients.values()) c.close();
  }
}

const stdinLines = (async function* () {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of Deno.stdin.readable) {
    buf += decoder.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
  if (buf !== "") yield buf;
})();

/** Reads one line of stdin (null at end of input). */
export async function readLine(): Promise<string | null> {
  const r = await stdinLines.next();
  return r.done ? null : r.value;
}

/** Reads all of stdin. */
export async function readAll(): Promise<string> {
  const lines: string[] = [];
  for (;;) {
    const l = await readLine();
    if (l === null) break;
    lines.push(l);
  }
  return lines.join("\n");
}
