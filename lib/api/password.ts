import { scrypt, timingSafeEqual } from "node:crypto";

// LXD's construction: hex(salt || scrypt(password, salt, N=2^14, r=8, p=1, 64 bytes)), 32-byte salt.
const SALT = 32;
const KEYLEN = 64;

function derive(password: string, salt: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) =>
    scrypt(
      password,
      salt,
      KEYLEN,
      { N: 1 << 14, r: 8, p: 1 },
      (err, key) => err ? reject(err) : resolve(new Uint8Array(key)),
    )
  );
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/** Hashes a trust password for storage; the clear text is never stored. */
export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(SALT));
  return hex(salt) + hex(await derive(password, salt));
}

/** Checks a password against a stored hash in constant time. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (!/^[0-9a-f]+$/.test(stored) || stored.length !== (SALT + KEYLEN) * 2) return false;
  const bytes = Uint8Array.from(stored.match(/../g)!, (h) => parseInt(h, 16));
  const key = await derive(password, bytes.slice(0, SALT));
  return timingSafeEqual(key, bytes.slice(SALT));
}
