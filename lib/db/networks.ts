/** Managed networks in the global database: global keys, each member's own keys and state. */
import { badRequest, conflict, notFound } from "../util/mod.ts";
import { nodeIdOf } from "./devices.ts";
import { defineTx, type ReadTx, type Tx } from "./tx.ts";

/** networks.state and networks_nodes.state values (LXD's). */
export const NETWORK_STATE = { pending: 0, created: 1, errored: 2 } as const;
const STATUS = ["Pending", "Created", "Errored"];

/** A network as stored, seen from one member. */
export interface NetworkRecord {
  id: number;
  name: string;
  description: string;
  type: string;
  status: string;
  /** Global keys, merged with the member's own when `member` was given. */
  config: Record<string, string>;
  locations: string[];
  /** Each member's state by name. */
  memberStates: Record<string, string>;
}

interface Row {
  id: number;
  name: string;
  description: string;
  state: number;
}

function configOf(tx: ReadTx, id: number, nodeId: number | null): Record<string, string> {
  const rows = tx.query<{ key: string; value: string | null; node_id: number | null }>(
    "SELECT key, value, node_id FROM networks_config WHERE network_id = ? AND (node_id IS NULL OR node_id = ?)",
    id,
    nodeId ?? -1,
  );
  const out: Record<string, string> = {};
  for (const r of rows.filter((r) => r.node_id === null)) out[r.key] = r.value ?? "";
  for (const r of rows.filter((r) => r.node_id !== null)) out[r.key] = r.value ?? "";
  return Object.fromEntries(Object.keys(out).sort().map((k) => [k, out[k]!]));
}

function toRecord(tx: ReadTx, r: Row, member: string | null): NetworkRecord {
  const states = tx.query<{ name: string; state: number }>(
    "SELECT nodes.name, networks_nodes.state FROM networks_nodes JOIN nodes ON nodes.id = node_id WHERE network_id = ? ORDER BY nodes.name",
    r.id,
  );
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    type: "bridge",
    status: STATUS[r.state] ?? "Unknown",
    config: configOf(tx, r.id, member === null ? null : nodeIdOf(tx, member)),
    locations: states.map((s) => s.name),
    memberStates: Object.fromEntries(states.map((s) => [s.name, STATUS[s.state] ?? "Unknown"])),
  };
}

/** Every network (of the default project). */
export function listNetworks(tx: ReadTx, member: string | null): NetworkRecord[] {
  return tx.query<Row>("SELECT id, name, description, state FROM networks WHERE project_id = 1 ORDER BY name")
    .map((r) => toRecord(tx, r, member));
}

/** A network by name, or null. */
export function findNetwork(tx: ReadTx, name: string, member: string | null): NetworkRecord | null {
  const r = tx.get<Row>(
    "SELECT id, name, description, state FROM networks WHERE project_id = 1 AND name = ?",
    name,
  );
  return r ? toRecord(tx, r, member) : null;
}

/** A network by name; LXD's 404 otherwise. */
export function getNetwork(tx: ReadTx, name: string, member: string | null): NetworkRecord {
  const n = findNetwork(tx, name, member);
  if (!n) throw notFound("Network not found");
  return n;
}

/** The instances and profiles whose nic devices use a network, as LXD's used_by URLs. */
export function networkUsedBy(tx: ReadTx, name: string): string[] {
  const q = (owner: "instances" | "profiles") =>
    tx.query<{ name: string }>(
      `SELECT DISTINCT o.name FROM ${owner} o JOIN ${owner}_devices d ON d.${owner.slice(0, -1)}_id = o.id
         JOIN ${owner}_devices_config c ON c.${owner.slice(0, -1)}_device_id = d.id
        WHERE d.type = 1 AND ((c.key = 'network' AND c.value = ?) OR (c.key = 'parent' AND c.value = ?))
        ORDER BY o.name`,
      name,
      name,
    ).map((r) => `/1.0/${owner}/${r.name}`);
  return [...q("instances"), ...q("profiles")];
}

/** Member-specific keys stored for one member; the rest are global. */
function writeConfig(
  tx: Tx,
  id: number,
  config: Record<string, string>,
  memberKeys: readonly string[],
  nodeId: number,
): void {
  for (const [k, v] of Object.entries(config)) {
    tx.exec(
      "INSERT INTO networks_config (network_id, node_id, key, value) VALUES (?, ?, ?, ?)",
      id,
      memberKeys.includes(k) ? nodeId : null,
      k,
      v,
    );
  }
}

/** Creates a network in one step (a standalone server, or a one-member cluster): Created. */
export const createNetwork = defineTx(
  "networks.create",
  (
    tx,
    a: {
      name: string;
      description: string;
      config: Record<string, string>;
      memberKeys: string[];
      member: string;
    },
  ): number => {
    if (tx.get("SELECT id FROM networks WHERE project_id = 1 AND name = ?", a.name)) {
      throw conflict(`Network "${a.name}" already exists`);
    }
    const nodeId = nodeIdOf(tx, a.member);
    const { lastInsertRowid: id } = tx.exec(
      "INSERT INTO networks (project_id, name, description, state, type) VALUES (1, ?, ?, ?, 0)",
      a.name,
      a.description,
      NETWORK_STATE.created,
    );
    writeConfig(tx, id, a.config, a.memberKeys, nodeId);
    tx.exec(
      "INSERT INTO networks_nodes (network_id, node_id, state) VALUES (?, ?, ?)",
      id,
      nodeId,
      NETWORK_STATE.created,
    );
    return id;
  },
);

/** Replaces a network's global config and description (its members' own keys stay). */
export const updateNetwork = defineTx(
  "networks.update",
  (
    tx,
    a: { name: string; description: string; config: Record<string, string>; memberKeys: string[] },
  ): void => {
    const r = tx.get<{ id: number }>("SELECT id FROM networks WHERE project_id = 1 AND name = ?", a.name);
    if (!r) throw notFound("Network not found");
    tx.exec("UPDATE networks SET description = ? WHERE id = ?", a.description, r.id);
    tx.exec("DELETE FROM networks_config WHERE network_id = ? AND node_id IS NULL", r.id);
    for (const [k, v] of Object.entries(a.config)) {
      if (a.memberKeys.includes(k)) continue;
      tx.exec(
        "INSERT INTO networks_config (network_id, node_id, key, value) VALUES (?, NULL, ?, ?)",
        r.id,
        k,
        v,
      );
    }
  },
);

/** Deletes a network; refused while an instance or profile uses it. */
export const deleteNetwork = defineTx("networks.delete", (tx, a: { name: string }): void => {
  const r = tx.get<{ id: number }>("SELECT id FROM networks WHERE project_id = 1 AND name = ?", a.name);
  if (!r) throw notFound("Network not found");
  if (networkUsedBy(tx, a.name).length > 0) throw badRequest("The network is currently in use");
  tx.exec("DELETE FROM networks WHERE id = ?", r.id);
});

/**
 * The first phase of a cluster-wide create (`lxc network create --target M`): the network is
 * defined for member M with M's own keys and stays Pending. LXD's texts.
 */
export const defineNetworkMember = defineTx(
  "networks.define-member",
  (
    tx,
    a: { name: string; description: string; config: Record<string, string>; member: string },
  ): void => {
    const n = tx.get<{ id: number }>("SELECT id FROM nodes WHERE name = ?", a.member);
    if (!n) throw notFound("Cluster member not found");
    let net = tx.get<{ id: number; state: number }>(
      "SELECT id, state FROM networks WHERE project_id = 1 AND name = ?",
      a.name,
    );
    if (!net) {
      const { lastInsertRowid: id } = tx.exec(
        "INSERT INTO networks (project_id, name, description, state, type) VALUES (1, ?, ?, ?, 0)",
        a.name,
        a.description,
        NETWORK_STATE.pending,
      );
      net = { id, state: NETWORK_STATE.pending };
    } else if (net.state !== NETWORK_STATE.pending) {
      throw badRequest("Network is not in pending state");
    }
    if (tx.get("SELECT id FROM networks_nodes WHERE network_id = ? AND node_id = ?", net.id, n.id)) {
      throw badRequest(`The network is already defined on member "${a.member}"`);
    }
    tx.exec(
      "INSERT INTO networks_nodes (network_id, node_id, state) VALUES (?, ?, ?)",
      net.id,
      n.id,
      NETWORK_STATE.pending,
    );
    for (const [k, v] of Object.entries(a.config)) {
      tx.exec(
        "INSERT INTO networks_config (network_id, node_id, key, value) VALUES (?, ?, ?, ?)",
        net.id,
        n.id,
        k,
        v,
      );
    }
  },
);

/**
 * What the second phase needs, checked before any member does its part: the network is pending
 * and defined for every member (LXD's "Network not defined on nodes: ..."). Returns each
 * member's own keys by member name.
 */
export function pendingNetworkParts(tx: ReadTx, name: string): Record<string, Record<string, string>> {
  const net = tx.get<{ id: number; state: number }>(
    "SELECT id, state FROM networks WHERE project_id = 1 AND name = ?",
    name,
  );
  if (!net) throw badRequest("Network not pending on any node (use --target <node> first)");
  if (net.state === NETWORK_STATE.created) throw badRequest("The network is already created");
  const nodes = tx.query<{ id: number; name: string }>("SELECT id, name FROM nodes ORDER BY name");
  const defined = new Set(
    tx.query<{ node_id: number }>("SELECT node_id FROM networks_nodes WHERE network_id = ?", net.id)
      .map((r) => r.node_id),
  );
  const missing = nodes.filter((n) => !defined.has(n.id)).map((n) => n.name);
  if (missing.length > 0) throw badRequest(`Network not defined on nodes: ${missing.join(", ")}`);
  return Object.fromEntries(nodes.map((n) => [
    n.name,
    Object.fromEntries(
      tx.query<{ key: string; value: string | null }>(
        "SELECT key, value FROM networks_config WHERE network_id = ? AND node_id = ?",
        net.id,
        n.id,
      ).map((r) => [r.key, r.value ?? ""]),
    ),
  ]));
}

/** The end of the second phase, once every member runs its bridge: global keys, and Created. */
export const finishNetwork = defineTx(
  "networks.finish",
  (tx, a: { name: string; description: string; config: Record<string, string> }): void => {
    const net = tx.get<{ id: number; state: number }>(
      "SELECT id, state FROM networks WHERE project_id = 1 AND name = ?",
      a.name,
    );
    if (!net) throw notFound("Network not found");
    if (net.state === NETWORK_STATE.created) throw badRequest("The network is already created");
    tx.exec("DELETE FROM networks_config WHERE network_id = ? AND node_id IS NULL", net.id);
    for (const [k, v] of Object.entries(a.config)) {
      tx.exec(
        "INSERT INTO networks_config (network_id, node_id, key, value) VALUES (?, NULL, ?, ?)",
        net.id,
        k,
        v,
      );
    }
    if (a.description !== "") {
      tx.exec("UPDATE networks SET description = ? WHERE id = ?", a.description, net.id);
    }
    tx.exec("UPDATE networks SET state = ? WHERE id = ?", NETWORK_STATE.created, net.id);
    tx.exec("UPDATE networks_nodes SET state = ? WHERE network_id = ?", NETWORK_STATE.created, net.id);
  },
);

/** Replaces one member's own keys of a network (`lxc network set --target`). */
export const updateNetworkMember = defineTx(
  "networks.update-member",
  (tx, a: { name: string; member: string; config: Record<string, string> }): void => {
    const net = tx.get<{ id: number }>("SELECT id FROM networks WHERE project_id = 1 AND name = ?", a.name);
    if (!net) throw notFound("Network not found");
    const nodeId = nodeIdOf(tx, a.member);
    tx.exec("DELETE FROM networks_config WHERE network_id = ? AND node_id = ?", net.id, nodeId);
    for (const [k, v] of Object.entries(a.config)) {
      tx.exec(
        "INSERT INTO networks_config (network_id, node_id, key, value) VALUES (?, ?, ?, ?)",
        net.id,
        nodeId,
        k,
        v,
      );
    }
  },
);

/** A joining member takes its part of every created network, with its own keys. */
export const addNetworkMember = defineTx(
  "networks.add-member",
  (tx, a: { name: string; member: string; config: Record<string, string> }): void => {
    const net = tx.get<{ id: number }>("SELECT id FROM networks WHERE project_id = 1 AND name = ?", a.name);
    const n = tx.get<{ id: number }>("SELECT id FROM nodes WHERE name = ?", a.member);
    if (!net || !n) return;
    tx.exec(
      "INSERT INTO networks_nodes (network_id, node_id, state) VALUES (?, ?, ?) ON CONFLICT (network_id, node_id) DO NOTHING",
      net.id,
      n.id,
      NETWORK_STATE.created,
    );
    for (const [k, v] of Object.entries(a.config)) {
      tx.exec(
        "INSERT INTO networks_config (network_id, node_id, key, value) VALUES (?, ?, ?, ?) ON CONFLICT (network_id, node_id, key) DO UPDATE SET value = excluded.value",
        net.id,
        n.id,
        k,
        v,
      );
    }
  },
);
