/**
 * One rule for the names of things that become paths, interfaces or URL segments: storage pools,
 * storage volumes, networks, image aliases and cluster members. LXD's rules and texts
 * (drivers.ValidPoolName, ValidVolumeName, network ValidateName, IsEntityName), with what each
 * kind needs on top. A pool named ".." once resolved to $SHOAL_DIR itself, and deleting it took
 * $SHOAL_DIR/containers with it.
 */
import { badRequest } from "./errors.ts";

/** The kinds of names, as the messages say them. */
export type NameKind = "pool" | "volume" | "network" | "image alias" | "member" | "cluster group";

/** Why name cannot be a name of that kind (LXD's text), or null. */
export function nameProblem(kind: NameKind, name: unknown): string | null {
  if (typeof name !== "string") return `Invalid ${kind} name: expected a string`;
  const why = reason(kind, name);
  return why === null ? null : `Invalid ${kind} name "${printable(name)}": ${why}`;
}

/** Control characters (C0 and DEL): never in a name, never echoed raw. */
function hasControl(s: string): boolean {
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function printable(s: string): string {
  return [...s].map((ch) => (hasControl(ch) ? "?" : ch)).join("");
}

function reason(kind: NameKind, name: string): string | null {
  if (name === "") return "Cannot be empty";
  if (name === "." || name === "..") return `Cannot be "${name}"`;
  if (name.includes("/")) return "Cannot contain slashes";
  if (name.includes("\\")) return "Cannot contain backslashes";
  if (hasControl(name)) return "Cannot contain control characters";
  if (/\s/.test(name)) return "Cannot contain white space";
  for (const ch of name) if (ch.codePointAt(0)! > 127) return `Name contains non-ASCII character "${ch}"`;
  if (name.length > 255) return "Cannot be longer than 255 characters";
  switch (kind) {
    case "pool":
      if (name.startsWith(".")) return "Cannot start with a dot";
      if (name.startsWith("-")) return "Cannot start with a hyphen";
      return null;
    case "network":
      if (/[?&+:]/.test(name)) return `Cannot contain "${/[?&+:]/.exec(name)![0]}"`;
      if (name.includes("..")) return "Cannot contain consecutive dots";
      return null;
    case "cluster group":
      // "@NAME" names a group where a member name is expected (--target @GROUP).
      if (name.startsWith("@")) return 'Cannot start with "@"';
      return null;
    case "member":
      if (name === "none") return 'Cannot be "none"';
      if (!/^[a-zA-Z0-9][a-zA-Z0-9-.]{0,62}$/.test(name)) {
        return 'Use letters, digits, "-" and "." (at most 63), starting with a letter or digit';
      }
      return null;
    default:
      return null;
  }
}

/** Throws LXD's 400 for a name that is not one. */
export function checkName(kind: NameKind, name: unknown): asserts name is string {
  const p = nameProblem(kind, name);
  if (p !== null) throw badRequest(p);
}
