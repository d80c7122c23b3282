import type { CertificateAddToken, JoinToken } from "./mod.ts";

/** Encodes a token as LXD does: standard base64 of compact JSON. */
export function encodeToken(token: CertificateAddToken | JoinToken): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(token))));
}

/** A decoded token: which kind it is tells the two flows apart. */
export type DecodedToken =
  | { kind: "join"; token: JoinToken }
  | { kind: "certificate"; token: CertificateAddToken };

/** Decodes a token; throws LXD's reason for a token that is malformed or lacks a field. */
export function decodeToken(text: string): DecodedToken {
  let obj: Record<string, unknown>;
  try {
    const bin = atob(text.trim());
    obj = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
  } catch (e) {
    throw new Error(`Invalid token: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (obj === null || typeof obj !== "object") throw new Error("Invalid token: not a JSON object");
  const addresses = obj.addresses;
  if (!Array.isArray(addresses) || addresses.length === 0) {
    throw new Error("No cluster member addresses in join token");
  }
  if (typeof obj.secret !== "string" || obj.secret === "") throw new Error("No secret in join token");
  if (typeof obj.fingerprint !== "string" || obj.fingerprint === "") {
    throw new Error("No certificate fingerprint in join token");
  }
  if (typeof obj.server_name === "string" && obj.server_name !== "") {
    return { kind: "join", token: obj as unknown as JoinToken };
  }
  if (typeof obj.client_name === "string") {
    return { kind: "certificate", token: obj as unknown as CertificateAddToken };
  }
  throw new Error("No server name in join token");
}

/** 64 lowercase hex characters from 32 random bytes (LXD's token secret). */
export function randomSecret(): string {
  return [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Compares two secrets in time independent of where they differ. */
export function secretsEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
