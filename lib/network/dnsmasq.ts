/**
 * dnsmasq for one managed bridge, started and supervised by the daemon as LXD does: DHCP from
 * the bridge's subnet, DNS for the instances by name under the network's domain. A dnsmasq that
 * dies is started again; one left by an earlier daemon (kill -9, crash) is found by its pid file
 * and replaced, so there is never more than one per bridge.
 */
import type { Logger } from "../log/mod.ts";
import { errorMessage, lastLine } from "../util/mod.ts";

/** What dnsmasq serves on one bridge. */
export interface DnsmasqConfig {
  bridge: string;
  /** The bridge's own address (DNS listens there). */
  gateway: string;
  /** DHCP range, or null when ipv4.dhcp=false. */
  range: { first: string; last: string } | null;
  domain: string;
  /** The network's directory: leases, pid file, hosts, log. */
  dir: string;
}

/** One lease from dnsmasq's lease file. */
export interface Lease {
  expiry: number;
  hwaddr: string;
  address: string;
  hostname: string;
}

/** Delay before starting a dnsmasq that exited by itself again. */
const RESTART_MS = 1000;

export class Dnsmasq {
  #child: Deno.ChildProcess | null = null;
  #stopping = false;
  #stderr = "";
  #restartTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly cfg: DnsmasqConfig, readonly log: Logger) {}

  get leaseFile(): string {
    return `${this.cfg.dir}/dnsmasq.leases`;
  }
  get hostsDir(): string {
    return `${this.cfg.dir}/dnsmasq.hosts`;
  }
  get pidFile(): string {
    return `${this.cfg.dir}/dnsmasq.pid`;
  }

  /** The pid of the running dnsmasq, if any. */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  args(): string[] {
    const c = this.cfg;
    const a = [
      "--keep-in-foreground",
      "--strict-order",
      "--bind-interfaces",
      "--except-interface=lo",
      "--pid-file=",
      "--no-ping",
      `--interface=${c.bridge}`,
      `--listen-address=${c.gateway}`,
      "--no-resolv",
      "--conf-file=/dev/null",
      `--log-facility=${c.dir}/dnsmasq.log`,
      "--quiet-dhcp",
      "-s",
      c.domain,
      "-S",
      `/${c.domain}/`,
      `--interface-name=_gateway.${c.domain},${c.bridge}`,
    ];
    if (c.range) {
      a.push(
        "--dhcp-rapid-commit",
        "--dhcp-no-override",
        "--dhcp-authoritative",
        `--dhcp-leasefile=${this.leaseFile}`,
        `--dhcp-hostsdir=${this.hostsDir}`,
        `--dhcp-range=${c.range.first},${c.range.last},1h`,
      );
    }
    return a;
  }

  /** Starts dnsmasq (replacing one left behind) and waits until it listens or fails. */
  async start(): Promise<void> {
    this.#stopping = false;
    await Deno.mkdir(this.hostsDir, { recursive: true, mode: 0o755 });
    await Deno.chmod(this.cfg.dir, 0o711);
    await killStale(this.pidFile, this.cfg.bridge);
    await this.#spawn();
    // dnsmasq fails at once on a bad address or a busy port: report that, not a silent restart loop.
    const early = await Promise.race([
      this.#child!.status.then((s) => s),
      new Promise<null>((r) => setTimeout(() => r(null), 150)),
    ]);
    if (early) {
      this.#child = null;
      throw new Error(
        `Failed to run: dnsmasq for network "${this.cfg.bridge}": ${
          lastLine(this.#stderr) || `exit status ${early.code}`
        }`,
      );
    }
  }

  async #spawn(): Promise<void> {
    this.#stderr = "";
    const child = new Deno.Command("dnsmasq", {
      args: this.args(),
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    await Deno.writeTextFile(this.pidFile, `${child.pid}\n`);
    void (async () => {
      const dec = new TextDecoder();
      for await (const chunk of child.stderr) this.#stderr = (this.#stderr + dec.decode(chunk)).slice(-4096);
    })().catch(() => {});
    void child.status.then((st) => {
      if (this.#child !== child || this.#stopping) return;
      this.log.warn("dnsmasq exited; starting it again", {
        network: this.cfg.bridge,
        code: st.code,
        err: lastLine(this.#stderr),
      });
      this.#restartTimer = setTimeout(() => {
        if (this.#stopping || this.#child !== child) return;
        this.#spawn().catch((e) =>
          this.log.error("Failed to restart dnsmasq", { network: this.cfg.bridge, err: errorMessage(e) })
        );
      }, RESTART_MS);
    });
  }

  /** Tells dnsmasq to read its hosts again (an instance's name for its MAC). */
  reload(): void {
    try {
      this.#child?.kill("SIGHUP");
    } catch { /* exited: the restart reads them */ }
  }

  /** Stops dnsmasq and waits for it to go. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    const child = this.#child;
    this.#child = null;
    if (!child) return;
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    const t = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5000);
    await child.status;
    clearTimeout(t);
    await Deno.remove(this.pidFile).catch(() => {});
  }

  /** The current leases. */
  async leases(): Promise<Lease[]> {
    return parseLeases(await Deno.readTextFile(this.leaseFile).catch(() => ""));
  }
}

/** Parses dnsmasq's lease file: `EXPIRY MAC IP HOSTNAME CLIENTID` per line. */
export function parseLeases(text: string): Lease[] {
  const out: Lease[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || !/^\d+$/.test(f[0]!)) continue;
    out.push({ expiry: Number(f[0]), hwaddr: f[1]!, address: f[2]!, hostname: f[3] === "*" ? "" : f[3]! });
  }
  return out;
}

/** Kills a dnsmasq an earlier daemon left for this bridge (its pid file, checked against /proc). */
async function killStale(pidFile: string, bridge: string): Promise<void> {
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(pidFile)).trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    const cmd = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0");
    // Only a dnsmasq serving this bridge: the pid may have been reused by anything else.
    if (!cmd[0]?.endsWith("dnsmasq") || !cmd.includes(`--interface=${bridge}`)) return;
    Deno.kill(pid, "SIGKILL");
    for (let i = 0; i < 100; i++) {
      await Deno.stat(`/proc/${pid}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch { /* gone */ }
}
