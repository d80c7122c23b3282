import { badRequest, etag, parseExpiry, preconditionFailed } from "../util/mod.ts";
import { defineTx, type ReadTx } from "./tx.ts";

/** Where a server config key is stored: this member's local database or the global one. */
export type Scope = "local" | "global";

/** A known server config key. */
export interface KeyDef {
  scope: Scope;
  default: string;
  /** Returns the reason a value is refused, or null when it is fine. "" always means unset. */
  validate: (value: string) => string | null;
  /** Secret keys are shown as "true" when set (core.trust_password). */
  hidden?: boolean;
}

function isInt(v: string): boolean {
  return /^-?\d+$/.test(v);
}

/** Validates a listen address "host:port", "[v6]:port", "host" or ":port". */
export function validateAddress(v: string): string | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]*))(?::(\d+))?$/.exec(v);
  if (!m) return `Invalid address "${v}"`;
  const port = m[3];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return `Invalid port "${port}"`;
  return null;
}

const expiry: KeyDef["validate"] = (v) => {
  // Unset: the key's default applies.
  if (v === "") return null;
  try {
    parseExpiry(v);
    return null;
  } catch {
    return "Invalid expiry expression";
  }
};
const address: KeyDef["validate"] = (v) => validateAddress(v);
const anyString: KeyDef["validate"] = () => null;
const ipv4: KeyDef["validate"] = (v) =>
  /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(v) && v.split(".").every((x) => Number(x) <= 255)
    ? null
    : `Not an IPv4 address "${v}"`;
function inRange(min: number, max: number): KeyDef["validate"] {
  return (v) =>
    !isInt(v)
      ? `Invalid value for an integer "${v}"`
      : Number(v) < min || Number(v) > max
      ? `Value isn't within valid range. Must be between ${min} and ${max}`
      : null;
}
const boolean: KeyDef["validate"] = (v) =>
  ["true", "false", "1", "0", "yes", "no", "on", "off"].includes(v.toLowerCase()) ? null : "invalid boolean";
function integer(check?: (n: number) => string | null): KeyDef["validate"] {
  return (v) => (isInt(v) ? (check ? check(Number(v)) : null) : "invalid integer");
}
function count(check: (n: number) => string | null): KeyDef["validate"] {
  return (v) => (isInt(v) ? check(Number(v)) : "Value is not a number");
}

/** The addresses LXD canonicalizes with its API's default port when none is given. */
const DEFAULT_PORT_KEYS = new Set(["core.https_address", "cluster.https_address"]);

/** "host" or "[v6]" or ":"-less IPv6 becomes host:8443 ([v6]:8443); an address with a port stays. */
function withDefaultPort(v: string): string {
  if (/^\[[^\]]*\]:\d+$/.test(v) || /^[^:]*:\d+$/.test(v)) return v;
  const host = v.replace(/^\[|\]$/g, "");
  return host.includes(":") ? `[${host}]:8443` : `${host}:8443`;
}

/** Server config keys shoal knows, with LXD's defaults and validation texts. */
export const SERVER_KEYS: Record<string, KeyDef> = {
  "core.https_address": { scope: "local", default: "", validate: address },
  "cluster.https_address": { scope: "local", default: "", validate: address },
  "core.debug_address": { scope: "local", default: "", validate: address },
  "core.metrics_address": { scope: "local", default: "", validate: address },
  // LXD 5.0's other member-local keys (lxd/node/config.go): each member has its own value, set
  // through that member or with ?target=. shoal runs no BGP speaker nor DNS server yet: the
  // addresses are kept for the member, and a member warns that nothing listens there.
  "core.bgp_address": { scope: "local", default: "", validate: address },
  "core.bgp_routerid": { scope: "local", default: "", validate: ipv4 },
  "core.dns_address": { scope: "local", default: "", validate: address },
  "storage.backups_volume": { scope: "local", default: "", validate: anyString },
  "storage.images_volume": { scope: "local", default: "", validate: anyString },
  "core.bgp_asn": { scope: "global", default: "0", validate: inRange(0, 4294967294) },
  "core.trust_password": { scope: "global", default: "", validate: anyString, hidden: true },
  "core.remote_token_expiry": { scope: "global", default: "", validate: expiry },
  "core.proxy_http": { scope: "global", default: "", validate: anyString },
  "core.proxy_https": { scope: "global", default: "", validate: anyString },
  "core.proxy_ignore_hosts": { scope: "global", default: "", validate: anyString },
  "core.shutdown_timeout": { scope: "global", default: "5", validate: integer() },
  "images.auto_update_interval": { scope: "global", default: "6", validate: integer() },
  "images.auto_update_cached": { scope: "global", default: "true", validate: boolean },
  "images.remote_cache_expiry": { scope: "global", default: "10", validate: integer() },
  "images.compression_algorithm": { scope: "global", default: "gzip", validate: anyString },
  "cluster.offline_threshold": {
    scope: "global",
    default: "20",
    validate: (v) =>
      !isInt(v)
        ? "Offline threshold is not a number"
        : Number(v) <= 10
        ? "Value must be greater than '10'"
        : null,
  },
  "cluster.max_voters": {
    scope: "global",
    default: "3",
    validate: count((n) =>
      n < 3 || n % 2 !== 1 ? "Value must be an odd number equal to or higher than 3" : null
    ),
  },
  "cluster.max_standby": {
    scope: "global",
    default: "2",
    validate: count((n) => n < 0 || n > 5 ? "Value must be between 0 and 5" : null),
  },
  "cluster.images_minimal_replica": {
    scope: "global",
    default: "3",
    validate: (v) =>
      !isInt(v)
        ? "Minimal image replica count is not a number"
        : Number(v) >= 1 || Number(v) === -1
        ? null
        : "Invalid value for image replica count",
  },
  "cluster.join_token_expiry": { scope: "global", default: "3H", validate: expiry },
  "cluster.healing_threshold": {
    scope: "global",
    default: "0",
    validate: integer((n) => n < 0 ? "Value must be 0 or more" : null),
  },
  // shoal's: how long a member cut off from a quorum of voters keeps its instances running
  // (lib/cluster/fence.ts); only while healing is on.
  "cluster.fence_time": {
    scope: "global",
    default: "10",
    validate: integer((n) => n < 2 ? "Value must be at least 2" : null),
  },
};

/**
 * Seconds between a member's fence time and the healing threshold. A cut-off member fences at
 * most its fence time plus a probe (1 s) and its timeout (2 s) after its last quorum, then kills
 * its containers; the leader counts the threshold from the last heartbeat answered, at most 1 s
 * before the cut. What is left (about 6 s) is for the kills.
 */
export const FENCE_MARGIN_S = 10;

/**
 * Why the healing settings are unsafe, or null: a member cut off must have fenced itself (its
 * fence time, then FENCE_MARGIN_S to stop its instances) before its instances start elsewhere.
 */
export function healingProblem(config: Record<string, string>): string | null {
  const threshold = Number(globalValue(config, "cluster.healing_threshold"));
  if (!(threshold > 0)) return null;
  const fence = Number(globalValue(config, "cluster.fence_time"));
  if (fence + FENCE_MARGIN_S <= threshold) return null;
  return `cluster.healing_threshold (${threshold}) must exceed cluster.fence_time (${fence}) by at least ${FENCE_MARGIN_S} seconds: a member cut off stops its instances within its fence time, and only then may they start elsewhere`;
}

/** The definition of a key, including the free-form `user.*` namespace; undefined if unknown. */
export function keyDef(key: string): KeyDef | undefined {
  if (key.startsWith("user.")) return { scope: "global", default: "", validate: anyString };
  return SERVER_KEYS[key];
}

/** Returns LXD 5.0's rejection text for one key/value, or null if accepted. */
export function checkKey(key: string, value: string): string | null {
  const def = keyDef(key);
  if (!def) return `cannot set '${key}' to '${value}': unknown key`;
  if (value === "") return null;
  const reason = def.validate(value);
  return reason === null ? null : `cannot set '${key}' to '${value}': ${reason}`;
}

/** Checks every change; throws one message for all rejects, as LXD words it. */
export function validateChanges(changes: Record<string, string>): string | null {
  const errors = Object.keys(changes).sort().map((k) => checkKey(k, changes[k]!)).filter((e) => e !== null);
  if (errors.length === 0) return null;
  return errors.length === 1 ? errors[0]! : `${errors[0]} (and ${errors.length - 1} more errors)`;
}

/** Reads the global config table (set keys only). */
export function readGlobalConfig(tx: ReadTx): Record<string, string> {
  const out: Record<string, string> = {};
  for (
    const r of tx.query<{ key: string; value: string | null }>("SELECT key, value FROM config ORDER BY key")
  ) {
    if (r.value !== null && r.value !== "") out[r.key] = r.value;
  }
  return out;
}

/** The global config's set values of keys (readGlobalConfig restricted to them: absent when unset). */
export function readGlobalKeys(tx: ReadTx, keys: Iterable<string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of keys) {
    const r = tx.get<{ value: string | null }>("SELECT value FROM config WHERE key = ?", key);
    if (r !== undefined && r.value !== null && r.value !== "") out[key] = r.value;
  }
  return out;
}

/** Effective value of a global key (set value or default). */
export function globalValue(config: Record<string, string>, key: string): string {
  return config[key] ?? keyDef(key)?.default ?? "";
}

/** A server config value as GET /1.0 shows it: secrets are the boolean true, as in LXD. */
export type ShownValue = string | true;

/** The config GET /1.0 shows: global and this member's local keys, sorted, secrets hidden. */
export function shownConfig(
  global: Record<string, string>,
  local: Record<string, string>,
): Record<string, ShownValue> {
  const all: Record<string, ShownValue> = { ...global, ...local };
  for (const k of Object.keys(all)) if (keyDef(k)?.hidden) all[k] = true;
  return Object.fromEntries(Object.keys(all).sort().map((k) => [k, all[k]!]));
}

/** The global keys healingProblem() reads. */
const HEALING_KEYS = ["cluster.healing_threshold", "cluster.fence_time"];

function pick(values: Record<string, string>, keys: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) if (Object.hasOwn(values, k)) out[k] = values[k]!;
  return out;
}

/** PUT or PATCH /1.0 as the transaction gets it. */
export interface ServerConfigRequest {
  mode: "put" | "patch";
  /** Values asked for ("" unsets; true keeps a secret, as GET shows it). Global secrets come hashed. */
  requested: Record<string, ShownValue>;
  /** The config of the member that took the request, which its ETag covers too. */
  local: Record<string, string>;
  /** The If-Match header, when sent. */
  ifMatch?: string;
  /** Whether that member is clustered (its cluster address may not change then). */
  clustered: boolean;
  /** The member whose local keys change (its custom volumes hold storage.*_volume). */
  member?: string;
}

/**
 * Why POOL/VOLUME cannot hold a member's images or backups (LXD's daemonStorageValidate, its
 * messages): a custom filesystem volume of the default project on that member. Whether it is
 * empty is the member's to check, on its disk.
 */
function daemonVolumeProblem(tx: ReadTx, key: string, value: string, member: string): string | null {
  const fields = value.split("/");
  const fail = (why: string) => `Failed validation of "${key}": ${why}`;
  if (fields.length !== 2) return fail("Invalid syntax for volume, must be <pool>/<volume>");
  const [pool, volume] = fields as [string, string];
  const p = tx.get<{ id: number }>("SELECT id FROM storage_pools WHERE name = ?", pool);
  if (!p) return fail(`Unable to load storage pool "${pool}": Storage pool not found`);
  const v = tx.get<{ content_type: number }>(
    `SELECT v.content_type FROM storage_volumes v JOIN projects ON projects.id = v.project_id
       JOIN nodes ON nodes.id = v.node_id
      WHERE v.storage_pool_id = ? AND v.name = ? AND v.type = 2 AND projects.name = 'default' AND nodes.name = ?`,
    p.id,
    volume,
    member,
  );
  if (!v) {
    return fail(`Failed loading storage volume "${value}" in "default" project: Storage volume not found`);
  }
  if (v.content_type !== 0) {
    return fail(`Storage volume "${value}" in "default" project is not filesystem content type`);
  }
  return null;
}

/**
 * PUT and PATCH /1.0 in one transaction: the If-Match check, the change set and the write of
 * the global keys all see the same state, so that a concurrent change can neither slip between
 * the check and the write nor turn this one into a no-op; and a write needs no read index
 * first. Returns the member-local changes, for the member to apply after the commit.
 */
export const updateServerConfig = defineTx(
  "config.server-update",
  (tx, a: ServerConfigRequest): { local: Record<string, string> } => {
    // A PATCH without If-Match needs only the keys it names and those healingProblem() reads:
    // reading and showing the whole table was two thirds of this transaction's time on a leader
    // taking PATCH /1.0 from 16 clients (CPU profile), and the table grows with user.* keys.
    const keys = a.mode === "patch" && !a.ifMatch ? [...Object.keys(a.requested), ...HEALING_KEYS] : null;
    const stored = keys ? readGlobalKeys(tx, keys) : readGlobalConfig(tx);
    const current = shownConfig(stored, keys ? pick(a.local, keys) : a.local);
    if (a.ifMatch && a.ifMatch !== etag(current)) throw preconditionFailed();
    // The full set of changes: for PUT, keys that are set now and absent from the body are unset.
    const changes: Record<string, string> = {};
    if (a.mode === "put") { for (const k of Object.keys(current)) if (!(k in a.requested)) changes[k] = ""; }
    for (const [k, v] of Object.entries(a.requested)) {
      // A secret comes back from GET as true: sending it back keeps it, as in LXD.
      if (v === true) {
        if (keyDef(k)?.hidden) continue;
        changes[k] = "true";
      } else if (current[k] !== v || (keyDef(k)?.hidden && v !== "")) changes[k] = v;
    }
    for (const k of Object.keys(changes)) {
      if (current[k] === undefined && changes[k] === "") delete changes[k];
    }
    const problem = validateChanges(changes);
    if (problem) throw badRequest(problem);
    const after = Object.entries({ ...stored, ...changes }).filter(([, v]) => v !== "");
    const healing = healingProblem(Object.fromEntries(after));
    if (healing) throw badRequest(healing);
    const local: Record<string, string> = {};
    const global: [string, string][] = [];
    for (const [k, v] of Object.entries(changes)) {
      // As LXD: an API address given without a port is kept with the default one, 8443.
      if (keyDef(k)!.scope === "local") {
        local[k] = DEFAULT_PORT_KEYS.has(k) && v !== "" ? withDefaultPort(v) : v;
      } else global.push([k, v]);
    }
    for (const [k, v] of Object.entries(local)) {
      if (!k.startsWith("storage.") || v === "" || a.member === undefined) continue;
      const why = daemonVolumeProblem(tx, k, v, a.member);
      if (why) throw badRequest(why);
    }
    if (a.clustered && "cluster.https_address" in local) {
      throw badRequest("Changing cluster.https_address is currently not supported");
    }
    for (const [k, v] of global) {
      if (v === "") tx.exec("DELETE FROM config WHERE key = ?", k);
      else {
        tx.exec(
          "INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
          k,
          v,
        );
      }
    }
    return { local };
  },
);
