/** LXD's hostname rule for a name (shared/validate IsHostname); the reason, or null when fine. */
export function hostnameProblem(name: string): string | null {
  if (name.length < 1 || name.length > 63) return "Name must be 1-63 characters long";
  if (name.startsWith("-")) return 'Name must not start with "-" character';
  if (name.endsWith("-")) return 'Name must not end with "-" character';
  if (/^[0-9]/.test(name)) return "Name must not start with a number";
  if (!/^[-a-zA-Z0-9]+$/.test(name)) return "Name can only contain alphanumeric and hyphen characters";
  return null;
}

/** LXD's text for an instance name it refuses (instance.ValidName), or null when fine. */
export function instanceNameProblem(name: string): string | null {
  if (name.includes("/")) return 'The character "/" is reserved for snapshots';
  const p = hostnameProblem(name);
  return p === null ? null : `Invalid instance name: ${p}`;
}
