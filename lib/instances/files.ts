/**
 * Paths inside a container's root, resolved as the container itself would see them: ".." stops
 * at the root and symlinks (absolute ones too) resolve against the root, so no request reaches
 * a host file outside it.
 */

const MAX_LINKS = 40;

/**
 * Resolves path under root. With followLast false the last component is not dereferenced
 * (to replace or delete a symlink itself). Returns the host path.
 */
export function resolveInRoot(root: string, path: string, followLast = true): string {
  const pending = path.split("/").filter((c) => c !== "" && c !== ".");
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c === "..") {
      done.pop();
      continue;
    }
    const host = `${root}/${[...done, c].join("/")}`;
    const last = pending.length === 0;
    let info: Deno.FileInfo | null = null;
    try {
      info = Deno.lstatSync(host);
    } catch {
      info = null;
    }
    if (info?.isSymlink && (!last || followLast)) {
      if (++links > MAX_LINKS) throw new Error("Too many levels of symbolic links");
      const target = Deno.readLinkSync(host);
      if (target.startsWith("/")) done.length = 0;
      pending.unshift(...target.split("/").filter((x) => x !== "" && x !== "."));
      continue;
    }
    done.push(c);
  }
  return done.length === 0 ? root : `${root}/${done.join("/")}`;
}
