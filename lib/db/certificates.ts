import { badRequest, conflict, notFound } from "../util/mod.ts";
import { defineTx, type ReadTx, type Tx } from "./tx.ts";

/** Certificate types as LXD stores them. */
export const CERT_TYPE = { client: 1, server: 2, metrics: 3 } as const;
export type CertType = keyof typeof CERT_TYPE;

/** A trusted certificate. */
export interface CertRecord {
  fingerprint: string;
  type: CertType;
  name: string;
  certificate: string;
  restricted: boolean;
  projects: string[];
}

interface CertRow {
  id: number;
  fingerprint: string;
  type: number;
  name: string;
  certificate: string;
  restricted: number;
}

function typeName(t: number): CertType {
  return t === 2 ? "server" : t === 3 ? "metrics" : "client";
}

function toRecord(tx: ReadTx, r: CertRow): CertRecord {
  const projects = tx.query<{ name: string }>(
    "SELECT projects.name FROM certificates_projects JOIN projects ON projects.id = certificates_projects.project_id WHERE certificate_id = ? ORDER BY projects.name",
    r.id,
  ).map((p) => p.name);
  return {
    fingerprint: r.fingerprint,
    type: typeName(r.type),
    name: r.name,
    certificate: r.certificate,
    restricted: r.restricted !== 0,
    projects,
  };
}

/** Every trusted certificate, by fingerprint. */
export function listCertificates(tx: ReadTx): CertRecord[] {
  return tx.query<CertRow>("SELECT * FROM certificates ORDER BY fingerprint").map((r) => toRecord(tx, r));
}

/** A certificate by full fingerprint or unique prefix; throws 404 if none. */
export function getCertificate(tx: ReadTx, fp: string): CertRecord {
  // Hex only: "%" and "_" are LIKE's wildcards, and DELETE /1.0/certificates/%25 took the first.
  if (!/^[0-9a-f]+$/i.test(fp)) throw notFound("Certificate not found");
  const rows = tx.query<CertRow>(
    "SELECT * FROM certificates WHERE fingerprint LIKE ? || '%'",
    fp.toLowerCase(),
  );
  if (rows.length !== 1) throw notFound("Certificate not found");
  return toRecord(tx, rows[0]!);
}

/** Project ids of names; 400 naming the first that does not exist. */
function projectIds(tx: ReadTx, names: string[]): number[] {
  return names.map((n) => {
    const r = tx.get<{ id: number }>("SELECT id FROM projects WHERE name = ?", n);
    if (!r) throw badRequest(`Project "${n}" not found`);
    return r.id;
  });
}

function setProjects(tx: Tx, id: number, names: string[]): void {
  const ids = projectIds(tx, names);
  tx.exec("DELETE FROM certificates_projects WHERE certificate_id = ?", id);
  for (const p of ids) {
    tx.exec("INSERT INTO certificates_projects (certificate_id, project_id) VALUES (?, ?)", id, p);
  }
}

/**
 * Adds a client (or metrics) certificate; 409 if the fingerprint is already trusted. A server
 * certificate is never added here: only a join makes one (trustJoiner).
 */
export const addCertificate = defineTx(
  "certificates.add",
  (
    tx,
    c: Omit<CertRecord, "projects" | "type"> & { type: "client" | "metrics"; projects?: string[] },
  ): void => {
    if (tx.get("SELECT id FROM certificates WHERE fingerprint = ?", c.fingerprint)) {
      throw conflict("Certificate already in trust store");
    }
    const r = tx.exec(
      "INSERT INTO certificates (fingerprint, type, name, certificate, restricted) VALUES (?, ?, ?, ?, ?)",
      c.fingerprint,
      CERT_TYPE[c.type],
      c.name,
      c.certificate,
      c.restricted ? 1 : 0,
    );
    setProjects(tx, Number(r.lastInsertRowid), c.projects ?? []);
  },
);

/**
 * Trusts a joining member's own server certificate under the member name it joins as. It is a
 * member's only once a row of nodes has that name (accept); a name that is already a member's is
 * refused, and a leftover server certificate of an earlier, unfinished join under the same name
 * is replaced.
 */
export const trustJoiner = defineTx(
  "certificates.trust-joiner",
  (tx, c: { fingerprint: string; name: string; certificate: string }): void => {
    if (tx.get("SELECT id FROM nodes WHERE name = ?", c.name)) {
      throw badRequest(`The cluster already has a member with name: ${c.name}`);
    }
    // An earlier, unfinished join of the same server (or of another under this name) is replaced.
    tx.exec(
      "DELETE FROM certificates WHERE type = 2 AND (fingerprint = ? OR name = ?) AND name NOT IN (SELECT name FROM nodes)",
      c.fingerprint,
      c.name,
    );
    if (tx.get("SELECT id FROM certificates WHERE fingerprint = ?", c.fingerprint)) {
      throw conflict("Certificate already in trust store");
    }
    tx.exec(
      "INSERT INTO certificates (fingerprint, type, name, certificate, restricted) VALUES (?, ?, ?, ?, 0)",
      c.fingerprint,
      CERT_TYPE.server,
      c.name,
      c.certificate,
    );
  },
);

/** What a request's certificate makes its caller; null for an unknown certificate. */
export interface CertCaller {
  type: CertType;
  name: string;
  restricted: boolean;
  projects: string[];
  /** The current member whose certificate this is (a server certificate named as a row of nodes). */
  member: string | null;
}

/** The hot path of authentication: one certificate's standing, read locally. */
export function certificateCaller(tx: ReadTx, fp: string): CertCaller | null {
  const r = tx.get<CertRow & { member: string | null }>(
    "SELECT c.*, n.name AS member FROM certificates c LEFT JOIN nodes n ON c.type = 2 AND n.name = c.name WHERE c.fingerprint = ?",
    fp,
  );
  if (!r) return null;
  const rec = toRecord(tx, r);
  return {
    type: rec.type,
    name: rec.name,
    restricted: rec.restricted,
    projects: rec.projects,
    member: r.member,
  };
}

/** Updates name, restriction and projects of a certificate (its type never changes). */
export const updateCertificate = defineTx(
  "certificates.update",
  (tx, a: { fingerprint: string; name: string; restricted: boolean; projects?: string[] }): void => {
    const r = tx.get<{ id: number }>("SELECT id FROM certificates WHERE fingerprint = ?", a.fingerprint);
    if (!r) throw notFound("Certificate not found");
    tx.exec(
      "UPDATE certificates SET name = ?, restricted = ? WHERE id = ?",
      a.name,
      a.restricted ? 1 : 0,
      r.id,
    );
    if (a.projects) setProjects(tx, r.id, a.projects);
  },
);

/** Removes a certificate by full fingerprint. */
export const deleteCertificate = defineTx("certificates.delete", (tx, a: { fingerprint: string }): void => {
  const r = tx.exec("DELETE FROM certificates WHERE fingerprint = ?", a.fingerprint);
  if (r.changes === 0) throw notFound("Certificate not found");
});

/** The current members' certificates: a server certificate under the name of a row of nodes. */
export function memberCertificates(tx: ReadTx): { name: string; fingerprint: string }[] {
  return tx.query<{ name: string; fingerprint: string }>(
    "SELECT c.name, c.fingerprint FROM certificates c JOIN nodes n ON n.name = c.name WHERE c.type = 2 ORDER BY c.name",
  );
}
