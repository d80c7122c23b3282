import { YAML } from "./yaml.ts";
import type { KeyPair } from "../../lib/tls/mod.ts";

/** One remote in the client's config.yml (lxc's format). */
export interface RemoteConfig {
  addr: string;
  auth_type?: string;
  project?: string;
  protocol?: string;
  public?: boolean;
}

/** The client's config.yml. */
export interface ClientConfig {
  "default-remote": string;
  remotes: Record<string, RemoteConfig>;
  aliases: Record<string, string>;
}

/** The client's config directory: $SHOAL_CONF, or ~/.config/shoal. */
export function confDir(): string {
  return Deno.env.get("SHOAL_CONF") || `${Deno.env.get("HOME") ?? "/root"}/.config/shoal`;
}

const LOCAL: RemoteConfig = { addr: "unix://", public: false };

/** Reads config.yml, or the defaults (one remote "local" on the unix socket). */
export function readClientConfig(dir = confDir()): ClientConfig {
  let parsed: Partial<ClientConfig> = {};
  try {
    parsed = YAML.parse(Deno.readTextFileSync(`${dir}/config.yml`)) ?? {};
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new Error(`Cannot read ${dir}/config.yml: ${e instanceof Error ? e.message : e}`);
    }
  }
  return {
    "default-remote": parsed["default-remote"] ?? "local",
    remotes: { local: LOCAL, ...(parsed.remotes ?? {}) },
    aliases: parsed.aliases ?? {},
  };
}

/** Writes config.yml atomically. */
export function writeClientConfig(config: ClientConfig, dir = confDir()): void {
  Deno.mkdirSync(dir, { recursive: true, mode: 0o750 });
  const tmp = `${dir}/config.yml.tmp`;
  Deno.writeTextFileSync(tmp, YAML.stringify(config, { indentSeq: false }));
  Deno.renameSync(tmp, `${dir}/config.yml`);
}

/** The pinned certificate of a remote, or null. */
export function readServerCert(name: string, dir = confDir()): string | null {
  try {
    return Deno.readTextFileSync(`${dir}/servercerts/${name}.crt`);
  } catch {
    return null;
  }
}

/** Pins a remote's certificate. */
export function writeServerCert(name: string, pem: string, dir = confDir()): void {
  Deno.mkdirSync(`${dir}/servercerts`, { recursive: true, mode: 0o750 });
  Deno.writeTextFileSync(`${dir}/servercerts/${name}.crt`, pem);
}

/** Forgets a remote's certificate. */
export function removeServerCert(name: string, dir = confDir()): void {
  try {
    Deno.removeSync(`${dir}/servercerts/${name}.crt`);
  } catch { /* none pinned */ }
}

/** The client certificate, generated on first use as lxc does. */
export async function clientCertificate(dir = confDir()): Promise<KeyPair> {
  try {
    return {
      cert: Deno.readTextFileSync(`${dir}/client.crt`),
      key: Deno.readTextFileSync(`${dir}/client.key`),
    };
  } catch {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o750 });
    const user = Deno.env.get("USER") ?? "root";
    // Loaded on first use: the X.509 library costs every command ~0.1 s to load.
    const { generateKeyPair } = await import("../../lib/tls/mod.ts");
    const pair = await generateKeyPair({ cn: `${user}@${Deno.hostname()}`, kind: "client" });
    Deno.writeTextFileSync(`${dir}/client.key`, pair.key, { mode: 0o600 });
    Deno.writeTextFileSync(`${dir}/client.crt`, pair.cert);
    return pair;
  }
}
