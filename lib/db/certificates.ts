import { conflict, notFound } from "../util/mod.ts";
import { defineTx, type ReadTx } from "./tx.ts";

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
  const rows = tx.query<CertRow>(
    "SELECT * FROM certificates WHERE fingerprint LIKE ? || '%'",
    fp.toLowerCase(),
  );
  if (rows.length !== 1) throw notFound("Certificate not found");
  return toRecord(tx, rows[0]!);
}

/** The type of a trusted fingerprint, or null: the hot path of authentication. */
export function certificateType(tx: ReadTx, fp: string): CertType | null {
  const r = tx.get<{ type: number }>("SELECT type FROM certificates WHERE fingerprint = ?", fp);
  return r ? typeName(r.type) : null;
}

/** Adds a certificate; 409 if the fingerprint is already trusted. */
export const addCertificate = defineTx("certificates.add", (tx, c: Omit<CertRecord, "projects">): void => {
  if (tx.get("SELECT id FROM certificates WHERE fingerprint = ?", c.fingerprint)) {
    throw conflict("Certificate already in trust store");
  }
  tx.exec(
    "INSERT INTO certificates (fingerprint, type, name, certificate, restricted) VALUES (?, ?, ?, ?, ?)",
    c.fingerprint,
    CERT_TYPE[c.type],
    c.name,
    c.certificate,
    c.restricted ? 1 : 0,
  );
});

/** Updates name, type and restriction of a certificate. */
export const updateCertificate = defineTx(
  "certificates.update",
  (tx, a: { fingerprint: string; name: string; type: CertType; restricted: boolean }): void => {
    const r = tx.exec(
      "UPDATE certificates SET name = ?, type = ?, restricted = ? WHERE fingerprint = ?",
      a.name,
      CERT_TYPE[a.type],
      a.restricted ? 1 : 0,
      a.fingerprint,
    );
    if (r.changes === 0) throw notFound("Certificate not found");
  },
);

/** Removes a certificate by full fingerprint. */
export const deleteCertificate = defineTx("certificates.delete", (tx, a: { fingerprint: string }): void => {
  const r = tx.exec("DELETE FROM certificates WHERE fingerprint = ?", a.fingerprint);
  if (r.changes === 0) throw notFound("Certificate not found");
});
