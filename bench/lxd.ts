/**
 * Debian's LXD for side-by-side figures: one daemon with its own LXD_DIR, or a cluster of them
 * on loopback addresses formed the way shoal's are (preseed, then join tokens).
 * @module
 */

/** Runs a command; resolves with its stdout, or throws with its stderr. */
export async function sh(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/** Path of Debian's lxd, or null when it is not installed. */
export function findLxd(): string | null {
  return ["/usr/bin/lxd", "/usr/sbin/lxd"].find((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  }) ?? null;
}

/** One LXD daemon in its own LXD_DIR. */
export class LxdDaemon {
  readonly dir: string;
  readonly env: Record<string, string>;
  #lxd: string;
  #child: Deno.ChildProcess | null = null;

  constructor(lxd: string, dir: string) {
    this.#lxd = lxd;
    this.dir = dir;
    this.env = { LXD_DIR: `${dir}/lxd`, LXD_CONF: `${dir}/lxd.conf`, HOME: dir };
  }

  get socket(): string {
    return `${this.dir}/lxd/unix.socket`;
  }

  /** Starts the daemon and waits until it is ready; throws with its last log lines if not. */
  async start(): Promise<this> {
    await Deno.mkdir(`${this.dir}/lxd`, { recursive: true });
    const child = new Deno.Command("sh", {
      args: ["-c", `exec "$0" --debug >>"${this.dir}/lxd.log" 2>&1`, this.#lxd],
      env: this.env,
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#child = child;
    try {
      await Promise.race([
        sh(this.#lxd, ["waitready", "--timeout", "60"], this.env),
        child.status.then((s) => {
          throw new Error(`lxd exited with ${s.code}`);
        }),
      ]);
    } catch (e) {
      this.kill();
      await child.status;
      const tail = (await Deno.readTextFile(`${this.dir}/lxd.log`).catch(() => "")).trim().split("\n").slice(
        -3,
      );
      throw new Error(`lxd cannot run here: ${(e as Error).message}; ${tail.join(" | ")}`);
    }
    return this;
  }

  /** `lxc` against this daemon's socket. */
  lxc(args: string[], stdin?: string): Promise<string> {
    if (stdin === undefined) return sh("lxc", args, this.env);
    return this.#withStdin("lxc", args, stdin);
  }

  /** `lxd init --preseed` with the given YAML. */
  preseed(yaml: string): Promise<string> {
    return this.#withStdin(this.#lxd, ["init", "--preseed"], yaml);
  }

  async #withStdin(cmd: string, args: string[], stdin: string): Promise<string> {
    const p = new Deno.Command(cmd, { args, env: this.env, stdin: "piped", stdout: "piped", stderr: "piped" })
      .spawn();
    const w = p.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
    const out = await p.output();
    if (!out.success) {
      throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    return new TextDecoder().decode(out.stdout);
  }

  /** Graceful stop (`lxd shutdown`), killed if that fails. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    await sh(this.#lxd, ["shutdown", "--timeout", "30"], this.env).catch(() => this.kill());
    await child.status;
    this.#child = null;
  }

  /** kill -9. */
  kill(): void {
    try {
      this.#child?.kill("SIGKILL");
    } catch { /* gone */ }
  }

  async killed(): Promise<void> {
    this.kill();
    await this.#child?.status;
    this.#child = null;
  }
}

/** A cluster of LXD daemons on loopback, named l1, l2, … */
export interface LxdCluster {
  version: string;
  members: LxdDaemon[];
  /** The member `lxc cluster list` shows as database-leader. */
  leader(): Promise<LxdDaemon>;
  /** Stops every member still running (killed ones are skipped). */
  stop(): Promise<void>;
}

/** Forms an LXD cluster the way shoal's benches form theirs, or says why it cannot. */
export async function startLxdCluster(dir: string, addresses: string[]): Promise<LxdCluster | string> {
  const lxd = findLxd();
  if (!lxd) return "Debian's lxd is not installed (apt-get install -y lxd)";
  const members: LxdDaemon[] = [];
  const stop = async () => {
    await Promise.all(members.map((m) => m.stop()));
  };
  try {
    for (let i = 0; i < addresses.length; i++) {
      const m = await new LxdDaemon(lxd, `${dir}/l${i + 1}`).start();
      members.push(m);
      if (i === 0) {
        await m.preseed(
          `config:\n  core.https_address: ${
            addresses[0]
          }:8443\ncluster:\n  server_name: l1\n  enabled: true\n`,
        );
        continue;
      }
      const token = (await members[0]!.lxc(["cluster", "add", `l${i + 1}`])).trim().split("\n").pop()!;
      await m.preseed(
        `cluster:\n  enabled: true\n  server_name: l${i + 1}\n  server_address: ${
          addresses[i]
        }:8443\n  cluster_token: ${token}\n`,
      );
    }
    const version = `LXD ${(await sh(lxd, ["version"], members[0]!.env)).trim()}`;
    return {
      version,
      members,
      stop,
      leader: async () => {
        for (const m of members) {
          try {
            const csv = await m.lxc(["cluster", "list", "--format", "csv"]);
            const row = csv.split("\n").find((l) => l.includes("database-leader"));
            if (row) return members[Number(row.split(",")[0]!.slice(1)) - 1]!;
          } catch { /* this one is down: ask the next */ }
        }
        throw new Error("no LXD member shows a database-leader");
      },
    };
  } catch (e) {
    await stop();
    return `lxd cluster could not be formed: ${(e as Error).message}`;
  }
}
