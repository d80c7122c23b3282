import type { DatabaseSync } from "node:sqlite";
import { LOCAL_UPDATES, splitStatements } from "./schema.ts";
import { openSqlite, withTransaction } from "./sqlite.ts";

import type { ConfState } from "../raft/mod.ts";
import type { RaftNode } from "../wire/mod.ts";

export type { RaftNode };

/** Role codes of raft_nodes.role. */
export const RAFT_ROLE = { voter: 0, standby: 1, spare: 2 } as const;

/** The configuration a list of raft_nodes rows describes (their role column). */
export function confOfNodes(nodes: RaftNode[]): ConfState {
  const ids = (role: number) => nodes.filter((n) => n.role === role).map((n) => n.id);
  return { voters: ids(RAFT_ROLE.voter), standbys: ids(RAFT_ROLE.standby), spares: ids(RAFT_ROLE.spare) };
}

/**
 * This member's own database (database/local.db): member-local config keys and the Raft
 * configuration as last known, readable with the cluster down. Commits are fsynced.
 */
export class LocalDB {
  readonly db: DatabaseSync;
  /**
   * The config table as last read: every request asks for a key or two (the member's address,
   * whether it is clustered), and this daemon is the table's only writer while it runs.
   */
  #config: Map<string, string> | null = null;
  /** raft_nodes as last read: asked for the leader's address on every forwarded request. */
  #raftNodes: RaftNode[] | null = null;

  constructor(path: string) {
    this.db = openSqlite(path, "FULL");
    this.#migrate();
  }

  #migrate(): void {
    this.db.exec(
      "CREATE TABLE IF NOT EXISTS schema (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, version INTEGER NOT NULL, updated_at DATETIME NOT NULL, UNIQUE (version))",
    );
    const row = this.db.prepare("SELECT MAX(version) AS v FROM schema").get() as { v: number | null };
    const current = row.v ?? 0;
    withTransaction(this.db, () => {
      for (let v = current + 1; v <= LOCAL_UPDATES.length; v++) {
        for (const s of splitStatements(LOCAL_UPDATES[v - 1]!)) this.db.exec(s);
        this.db.prepare("INSERT INTO schema (version, updated_at) VALUES (?, ?)").run(
          v,
          new Date().toISOString(),
        );
      }
    });
  }

  #loaded(): Map<string, string> {
    if (this.#config === null) {
      this.#config = new Map();
      for (
        const r of this.db.prepare("SELECT key, value FROM config").all() as { key: string; value: string }[]
      ) {
        if (r.value !== null && r.value !== "") this.#config.set(r.key, r.value);
      }
    }
    return this.#config;
  }

  /** Every member-local config key that is set. */
  config(): Record<string, string> {
    return Object.fromEntries(this.#loaded());
  }

  /** One local key, or "" when unset. */
  get(key: string): string {
    return this.#loaded().get(key) ?? "";
  }

  /** Forgets what was read, after SQL that bypassed update() (`shoald sql local`). */
  invalidate(): void {
    this.#config = null;
    this.#raftNodes = null;
  }

  /** Sets local keys in one transaction; "" deletes. */
  update(changes: Record<string, string>): void {
    this.#config = null;
    withTransaction(this.db, () => {
      for (const [k, v] of Object.entries(changes)) {
        if (v === "") this.db.prepare("DELETE FROM config WHERE key = ?").run(k);
        else {
          this.db.prepare(
            "INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
          ).run(k, v);
        }
      }
    });
  }

  /** The Raft configuration as last recorded. */
  raftNodes(): RaftNode[] {
    return this.#recordedRaftNodes().map((n) => ({ ...n }));
  }

  /**
   * The recorded address of a Raft member, "" when none: without raftNodes()' copies, which a
   * follower made of every member for each batch it forwarded to the leader.
   */
  raftAddress(id: number): string {
    for (const n of this.#recordedRaftNodes()) if (n.id === id) return n.address;
    return "";
  }

  #recordedRaftNodes(): readonly RaftNode[] {
    this.#raftNodes ??= this.db.prepare("SELECT id, address, role, name FROM raft_nodes ORDER BY id")
      .all() as unknown as RaftNode[];
    return this.#raftNodes;
  }

  /** Replaces the recorded Raft configuration. */
  replaceRaftNodes(nodes: RaftNode[]): void {
    this.#raftNodes = null;
    withTransaction(this.db, () => {
      this.db.exec("DELETE FROM raft_nodes");
      const ins = this.db.prepare("INSERT INTO raft_nodes (id, address, role, name) VALUES (?, ?, ?, ?)");
      for (const n of nodes) ins.run(n.id, n.address, n.role, n.name);
    });
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
