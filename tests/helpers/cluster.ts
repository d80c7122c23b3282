/**
 * Forms real clusters for tests: the first member bootstraps by preseed, the others join with
 * tokens from `shoal cluster add`, each on its own 127.0.0.x address and $SHOAL_DIR.
 */
import { Member, waitFor } from "./member.ts";

/** Bootstraps m1 at addresses[0] and joins the rest by token; returns the members in order. */
export async function formCluster(
  dir: string,
  addresses: string[],
  o: {
    env?: Record<string, string>;
    extraConfig?: Record<string, string>;
    /** The argv prefix of each member's daemon by name (its network namespace: helpers/netns.ts). */
    wrap?: (name: string) => string[];
    /** More of m1's preseed (storage_pools, networks, profiles), as YAML after `cluster:`. */
    preseed?: string;
  } = {},
): Promise<Member[]> {
  const members: Member[] = [];
  const first = new Member(`${dir}/m1`, "m1", o.env, o.wrap?.("m1"));
  await first.start();
  members.push(first);
  const config = { "core.https_address": `${addresses[0]}:8443`, ...(o.extraConfig ?? {}) };
  const yaml = `config:\n${
    Object.entries(config).map(([k, v]) => `  ${k}: "${v}"`).join("\n")
  }\ncluster:\n  server_name: m1\n  enabled: true\n${o.preseed ?? ""}`;
  const boot = await first.shoald(["init", "--preseed"], { stdin: yaml });
  if (boot.code !== 0) throw new Error(`bootstrap failed: ${boot.stderr}\n${await first.logTail()}`);
  for (let i = 1; i < addresses.length; i++) {
    members.push(await joinMember(dir, first, `m${i + 1}`, addresses[i]!, o.env, o.wrap?.(`m${i + 1}`)));
  }
  return members;
}

/** Adds one member by token through `via`. */
export async function joinMember(
  dir: string,
  via: Member,
  name: string,
  address: string,
  env?: Record<string, string>,
  wrap?: string[],
  memberConfig = "",
): Promise<Member> {
  const add = await via.shoal(["cluster", "add", name, "--quiet"]);
  if (add.code !== 0) throw new Error(`cluster add ${name} failed: ${add.stderr}`);
  const token = add.stdout.trim();
  const m = new Member(`${dir}/${name}`, name, env, wrap);
  await m.start();
  const yaml =
    `cluster:\n  enabled: true\n  server_name: ${name}\n  server_address: ${address}:8443\n  cluster_token: ${token}\n${memberConfig}`;
  const r = await m.shoald(["init", "--preseed"], { stdin: yaml });
  if (r.code !== 0) throw new Error(`${name} join failed: ${r.stderr}\n${await m.logTail()}`);
  return m;
}

/** One row of `cluster list --format csv`. */
export interface MemberRow {
  name: string;
  url: string;
  roles: string[];
  state: string;
  message: string;
}

/** `shoal cluster list --format csv` as seen from m, parsed. */
export async function clusterList(m: Member): Promise<MemberRow[]> {
  const r = await m.shoal(["cluster", "list", "--format", "json"]);
  if (r.code !== 0) throw new Error(`cluster list failed: ${r.stderr}`);
  const rows = JSON.parse(r.stdout) as {
    server_name: string;
    url: string;
    roles: string[];
    status: string;
    message: string;
  }[];
  return rows.map((x) => ({
    name: x.server_name,
    url: x.url,
    roles: x.roles,
    state: x.status.toUpperCase(),
    message: x.message,
  }));
}

/** The member currently shown as database-leader (by m's view), waiting until there is one. */
export async function leaderOf(members: Member[], via: Member, timeoutMs = 20_000): Promise<Member> {
  const name = await waitFor("a database-leader", async () => {
    const rows = await clusterList(via);
    return rows.find((r) => r.roles.includes("database-leader"))?.name;
  }, timeoutMs);
  return members.find((m) => m.name === name)!;
}

/** Waits until `via` lists `n` database voters (the leader among them). */
export async function waitForVoters(via: Member, n: number, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    `${n} voters`,
    async () => (await clusterList(via)).filter((r) => r.roles.includes("database")).length === n,
    timeoutMs,
  );
}

/**
 * How long a helper's request may take: a member that never answers (its event loop stuck) then
 * fails the test saying so, where a request without a bound hung it (writers under kill -9).
 */
export const REQUEST_TIMEOUT_MS = 30_000;

/** Writes user.<key> through m's socket; true when acknowledged (false after REQUEST_TIMEOUT_MS). */
export async function writeUserKey(m: Member, key: string, value: string): Promise<boolean> {
  const c = m.client();
  try {
    await c.request("PATCH", "/1.0", {
      body: { config: { [key]: value } },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    return true;
  } catch {
    return false;
  } finally {
    c.close();
  }
}

/** Reads user.<key> through m's socket. */
export async function readUserKey(m: Member, key: string): Promise<string | undefined> {
  const c = m.client();
  try {
    const r = await c.request<{ config: Record<string, string> }>("GET", "/1.0", {
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    return r.metadata.config[key];
  } finally {
    c.close();
  }
}
