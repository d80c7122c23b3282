/**
 * Offline recovery, on a member whose daemon is stopped (LXD's `lxd cluster list-database`,
 * `recover-from-quorum-loss`, `show` and `edit`): these open the member's own databases
 * directly. What must reach the global database (a changed address) is left as a patch that the
 * daemon applies through Raft at its next start, as LXD leaves patch.global.sql.
 * @module
 */
import { YAML } from "../util/yaml.ts";
import { confOfNodes, GlobalFsm, LocalDB, RAFT_ROLE, type RaftNode } from "../db/mod.ts";
import { SqliteStorage } from "../raft_store/mod.ts";
import { badRequest } from "../util/mod.ts";

/** Where a member keeps what the offline commands touch (a StatePaths subset). */
export interface OfflinePaths {
  dir: string;
  database: string;
  localDb: string;
  globalDb: string;
}

/** The Raft snapshot file, beside the global database (as Daemon lays it out). */
function snapshotPath(p: OfflinePaths): string {
  return p.globalDb.replace(/[^/]*$/, "raft.snapshot");
}

/** The pending patch for the global database, applied by the daemon at its next start. */
export function patchPath(p: Pick<OfflinePaths, "database">): string {
  return `${p.database}/patch.global.json`;
}

/** The recovery tarball another member can import instead of editing by hand (LXD 5.21's). */
export function recoveryTarballPath(p: Pick<OfflinePaths, "database">): string {
  return `${p.database}/recovery_db.tar.gz`;
}

const ROLE_NAMES: Record<number, RoleName> = { 0: "voter", 1: "stand-by", 2: "spare" };
type RoleName = "voter" | "stand-by" | "spare";
const ROLE_CODES: Record<RoleName, number> = {
  voter: RAFT_ROLE.voter,
  "stand-by": RAFT_ROLE.standby,
  spare: RAFT_ROLE.spare,
};

/** The name of a raft_nodes role code, as `lxd cluster show` writes it. */
export function roleName(code: number): RoleName {
  return ROLE_NAMES[code] ?? "spare";
}

/** Opens the member's local database; never creates one where there is none. */
function openLocal(p: OfflinePaths): LocalDB {
  try {
    Deno.statSync(p.localDb);
  } catch {
    throw badRequest(
      `No local database at ${p.localDb}: set SHOAL_DIR to the member's state directory (shoald has never run in ${p.dir})`,
    );
  }
  return new LocalDB(p.localDb);
}

/** The local database, read-only use: raft_nodes and the member's own config. */
function withLocal<R>(p: OfflinePaths, fn: (local: LocalDB) => R): R {
  const local = openLocal(p);
  try {
    return fn(local);
  } finally {
    local.close();
  }
}

/** `list-database`: the members with a database role (voters, then stand-bys), from local state. */
export function listDatabase(p: OfflinePaths): RaftNode[] {
  return withLocal(p, (local) => {
    const nodes = local.raftNodes().filter((n) => n.role !== RAFT_ROLE.spare);
    return nodes.sort((a, b) => a.role - b.role || a.id - b.id);
  });
}

/** This member's clustered identity in raft_nodes; throws when it has none. */
function selfNode(local: LocalDB): RaftNode {
  const address = local.get("cluster.https_address");
  if (address === "") {
    throw badRequest(
      `This server isn't clustered (no "cluster.https_address" in its local configuration): there is nothing to recover`,
    );
  }
  const me = local.raftNodes().find((n) => n.address === address);
  if (!me) {
    throw badRequest(
      `This member's address ${address} is not in its last known Raft configuration: run "shoald cluster show" and fix the address with "shoald cluster edit"`,
    );
  }
  return me;
}

/** What recover-from-quorum-loss did. */
export interface Recovered {
  id: number;
  address: string;
  name: string;
  /** The last log index, now committed and applied here. */
  index: number;
  /** The members that are no longer in the Raft configuration (still in the database). */
  dropped: RaftNode[];
}

/**
 * Makes this member the only voter (LXD's cluster.Recover): every entry of its log is applied to
 * its copy of the global database (the lost members cannot say which of the last ones were
 * committed; dqlite keeps them too), then the configuration is replaced by this member alone.
 * Nothing in the global database is deleted: the lost members stay listed until
 * `lxc cluster remove --force`.
 */
export function recoverFromQuorumLoss(p: OfflinePaths): Recovered {
  const local = openLocal(p);
  const fsm = new GlobalFsm(p.globalDb);
  try {
    const me = selfNode(local);
    if (me.role === RAFT_ROLE.spare) {
      throw badRequest(
        `This member is a spare: it holds no copy of the database to recover from. Run the recovery on a member that "shoald cluster list-database" lists`,
      );
    }
    const storage = new SqliteStorage(local.db, snapshotPath(p));
    const snap = storage.snapshotMeta;
    if (fsm.appliedIndex < snap.index && snap.index > 0) {
      const data = storage.snapshot().data;
      if (data.length > 0) fsm.restore(data);
    }
    const last = storage.lastIndex();
    const from = Math.max(fsm.appliedIndex + 1, storage.firstIndex());
    if (from <= last) {
      for (const e of storage.entries(from, last + 1)) {
        fsm.apply(e.index, e.term, e.type === "conf" ? "" : e.data);
      }
    }
    fsm.checkpoint();
    const index = Math.max(last, fsm.appliedIndex);
    const term = index === last ? storage.term(last) : fsm.applied.term;
    storage.forceConfiguration({ voters: [me.id], standbys: [], spares: [] }, index, term);
    // The stored snapshot's bytes are older than its new metadata: drop them, so the first
    // member to need a snapshot gets one taken from the database as it is now.
    try {
      Deno.removeSync(snapshotPath(p));
    } catch { /* none */ }
    const dropped = local.raftNodes().filter((n) => n.id !== me.id);
    local.replaceRaftNodes([{ ...me, role: RAFT_ROLE.voter }]);
    return { id: me.id, address: me.address, name: me.name, index, dropped };
  } finally {
    fsm.close();
    local.close();
  }
}

/** A member as `cluster show` writes it and `cluster edit` reads it. */
export interface EditedMember {
  id: number;
  name: string;
  address: string;
  role: RoleName;
}

/** The Raft log's last index (the comment on top of `cluster show`, LXD's segment id). */
function lastLogIndex(p: OfflinePaths): number {
  return withLocal(p, (local) => new SqliteStorage(local.db, snapshotPath(p)).lastIndex());
}

/**
 * `cluster show`: this member's last known Raft members, as YAML with LXD's comments (which
 * fields may change).
 */
export function showCluster(p: OfflinePaths): string {
  const nodes = withLocal(p, (local) => local.raftNodes());
  if (nodes.length === 0) return "members: []\n";
  const lines = [`# Latest Raft log index: ${lastLogIndex(p)}`, "", "members:"];
  for (const n of nodes) {
    lines.push(
      `  - id: ${n.id}${
        " ".repeat(Math.max(1, 20 - String(n.id).length))
      }# Internal ID of the member (Read-only)`,
      `    name: ${n.name || '""'}${
        " ".repeat(Math.max(1, 18 - (n.name || '""').length))
      }# Name of the cluster member (Read-only)`,
      `    address: ${n.address || '""'}${
        " ".repeat(Math.max(1, 15 - (n.address || '""').length))
      }# Last known address of the member (Writeable)`,
      `    role: ${roleName(n.role)}${
        " ".repeat(Math.max(1, 18 - roleName(n.role).length))
      }# Last known role of the member (Writeable)`,
    );
  }
  return lines.join("\n") + "\n";
}

/** Parses an edited document; throws a message naming what is wrong. */
export function parseClusterYaml(text: string): EditedMember[] {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    throw badRequest(`The document is not valid YAML: ${e instanceof Error ? e.message.split("\n")[0] : e}`);
  }
  const members = (doc as { members?: unknown } | null)?.members;
  if (!Array.isArray(members)) throw badRequest(`The document has no "members" list`);
  return members.map((m, i) => {
    const r = (m ?? {}) as Record<string, unknown>;
    if (typeof r.id !== "number" || !Number.isInteger(r.id)) {
      throw badRequest(`Member ${i + 1} has no numeric "id"`);
    }
    const role = String(r.role ?? "");
    if (!(role in ROLE_CODES)) {
      throw badRequest(`Unknown raft role: "${role}" (member ${r.id}): use voter, stand-by or spare`);
    }
    return {
      id: r.id,
      name: r.name === undefined || r.name === null ? "" : String(r.name),
      address: r.address === undefined || r.address === null ? "" : String(r.address),
      role: role as RoleName,
    };
  });
}

/**
 * PURE. LXD's rules for an edited configuration: the same members in the same order (none
 * removed or added, ids and names unchanged), no spare made a voter (it may lack the database),
 * at least two voters (one in a two-member cluster), addresses present and distinct.
 */
export function validateEdit(old: RaftNode[], next: EditedMember[]): void {
  if (next.length < old.length) throw badRequest("Removing cluster members is not supported");
  if (next.length > old.length) throw badRequest("Adding cluster members is not supported");
  let voters = 0;
  const seen = new Set<string>();
  next.forEach((n, i) => {
    const o = old[i]!;
    if (o.id !== n.id) throw badRequest(`Changing cluster member ID is not supported (member ${o.id})`);
    if (o.name !== "" && n.name !== "" && o.name !== n.name) {
      throw badRequest(`Changing cluster member name is not supported (member ${o.id} is ${o.name})`);
    }
    if (o.role === RAFT_ROLE.spare && n.role === "voter") {
      throw badRequest(
        `A "spare" cluster member cannot become a "voter" (member ${o.id}): it may lack the database`,
      );
    }
    if (!/^(\[[0-9a-fA-F:.]+\]|[^\s:\[\]]+):\d{1,5}$/.test(n.address)) {
      throw badRequest(`Invalid address "${n.address}" for member ${n.id}: expected HOST:PORT`);
    }
    if (seen.has(n.address)) throw badRequest(`Two members have the address ${n.address}`);
    seen.add(n.address);
    if (n.role === "voter") voters++;
  });
  if (voters < 2 && next.length > 2) throw badRequest(`Number of "voter" must be 2 or more`);
  if (voters < 1) throw badRequest(`At least one member must be a "voter"`);
}

/** A member's address change, applied to the global `nodes` table at the next start. */
export interface AddressChange {
  id: number;
  name: string;
  from: string;
  to: string;
}

/** What `cluster edit` changed. */
export interface EditResult {
  addresses: AddressChange[];
  rolesChanged: boolean;
  /** This member's own new address, when it moved. */
  selfAddress: string | null;
  tarball: string;
}

/**
 * Applies an edited configuration (LXD's cluster.Reconfigure): raft_nodes, this member's
 * cluster.https_address when its own entry moved, the Raft configuration when roles changed,
 * the address patch for the global database, and a recovery tarball for the other members.
 */
export async function applyEdit(p: OfflinePaths, next: EditedMember[]): Promise<EditResult> {
  const local = openLocal(p);
  let result: EditResult;
  try {
    const old = local.raftNodes();
    validateEdit(old, next);
    const me = selfNode(local);
    const nodes: RaftNode[] = next.map((n, i) => ({
      id: n.id,
      address: n.address,
      role: ROLE_CODES[n.role],
      name: n.name || old[i]!.name,
    }));
    const addresses = nodes.flatMap((n, i) =>
      n.address === old[i]!.address ? [] : [{ id: n.id, name: n.name, from: old[i]!.address, to: n.address }]
    );
    const rolesChanged = nodes.some((n, i) => n.role !== old[i]!.role);
    if (rolesChanged) forceRoles(p, local, nodes);
    local.replaceRaftNodes(nodes);
    const mine = nodes.find((n) => n.id === me.id)!;
    const selfAddress = mine.address !== me.address ? mine.address : null;
    if (selfAddress) local.update({ "cluster.https_address": selfAddress });
    if (addresses.length > 0) mergePatch(p, addresses);
    result = { addresses, rolesChanged, selfAddress, tarball: recoveryTarballPath(p) };
    await writeRecoveryTarball(p, nodes);
  } finally {
    local.close();
  }
  return result;
}

/** Rewrites the Raft configuration with the edited roles (every entry applied first). */
function forceRoles(p: OfflinePaths, local: LocalDB, nodes: RaftNode[]): void {
  const fsm = new GlobalFsm(p.globalDb);
  try {
    const storage = new SqliteStorage(local.db, snapshotPath(p));
    const last = storage.lastIndex();
    const from = Math.max(fsm.appliedIndex + 1, storage.firstIndex());
    if (from <= last) {
      for (const e of storage.entries(from, last + 1)) {
        fsm.apply(e.index, e.term, e.type === "conf" ? "" : e.data);
      }
    }
    fsm.checkpoint();
    storage.forceConfiguration(
      confOfNodes(nodes),
      Math.max(last, fsm.appliedIndex),
      last >= fsm.appliedIndex ? storage.term(last) : fsm.applied.term,
    );
    try {
      Deno.removeSync(snapshotPath(p));
    } catch { /* none */ }
  } finally {
    fsm.close();
  }
}

/** The pending address changes (none: empty). */
export function readPatch(p: Pick<OfflinePaths, "database">): AddressChange[] {
  try {
    const v = JSON.parse(Deno.readTextFileSync(patchPath(p)));
    return Array.isArray(v?.addresses) ? v.addresses : [];
  } catch {
    return [];
  }
}

/** Adds changes to the pending patch (a later edit of the same member wins). */
function mergePatch(p: OfflinePaths, changes: AddressChange[]): void {
  const byId = new Map(readPatch(p).map((c) => [c.id, c]));
  for (const c of changes) {
    const before = byId.get(c.id);
    byId.set(c.id, { ...c, from: before?.from ?? c.from });
  }
  writeFileSynced(patchPath(p), JSON.stringify({ addresses: [...byId.values()] }, null, 2) + "\n");
}

/** The applied patch goes away (the daemon calls this once Raft has applied it). */
export function clearPatch(p: Pick<OfflinePaths, "database">): void {
  try {
    Deno.removeSync(patchPath(p));
  } catch { /* none */ }
}

function writeFileSynced(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  Deno.writeTextFileSync(tmp, text, { mode: 0o600 });
  const f = Deno.openSync(tmp, { read: true, write: true });
  f.syncSync();
  f.close();
  Deno.renameSync(tmp, path);
}

/**
 * Writes the recovery tarball (LXD 5.21 writes lxd_recovery_db.tar.gz): the edited members and
 * the address patch. `shoald cluster edit --import FILE` on another member applies the same
 * configuration there without editing by hand.
 */
async function writeRecoveryTarball(p: OfflinePaths, nodes: RaftNode[]): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "shoal-recovery-" });
  try {
    const members: EditedMember[] = nodes.map((n) => ({
      id: n.id,
      name: n.name,
      address: n.address,
      role: roleName(n.role),
    }));
    await Deno.writeTextFile(`${tmp}/members.json`, JSON.stringify({ members }, null, 2) + "\n");
    const out = await new Deno.Command("tar", {
      args: ["-czf", recoveryTarballPath(p), "-C", tmp, "members.json"],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`Writing the recovery tarball failed: ${new TextDecoder().decode(out.stderr).trim()}`);
    }
    await Deno.chmod(recoveryTarballPath(p), 0o600);
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** Reads the members of a recovery tarball written by `cluster edit` on another member. */
export async function readRecoveryTarball(file: string): Promise<EditedMember[]> {
  try {
    Deno.statSync(file);
  } catch {
    throw badRequest(
      `No recovery tarball at ${file}: copy database/recovery_db.tar.gz from the member you edited`,
    );
  }
  const out = await new Deno.Command("tar", {
    args: ["-xzOf", file, "members.json"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw badRequest(
      `Cannot read the recovery tarball ${file}: ${
        new TextDecoder().decode(out.stderr).trim().split("\n")[0]
      }`,
    );
  }
  let doc: { members?: unknown };
  try {
    doc = JSON.parse(new TextDecoder().decode(out.stdout));
  } catch {
    throw badRequest(`The recovery tarball ${file} holds no valid members.json`);
  }
  return parseClusterYaml(JSON.stringify(doc));
}
