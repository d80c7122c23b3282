/** What both certificate parsing and generation need: key pair types, hex and PEM encoding. */

/** A certificate and its private key, both PEM. */
export interface KeyPair {
  cert: string;
  key: string;
}

/** What a generated certificate is for. */
export interface CertOptions {
  /** Common name, e.g. "root@host". */
  cn: string;
  /** "server" certs also allow client auth: members present them to each other. */
  kind: "server" | "client";
  dns?: string[];
  ips?: string[];
  /** Validity in days; 10 years by default. */
  days?: number;
}

export function hex(b: ArrayBuffer | Uint8Array): string {
  return [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
}

export function pemEncode(label: string, der: ArrayBuffer): string {
  const b64 = btoa(String.fromCharCode(...new Uint8Array(der)));
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;
}
