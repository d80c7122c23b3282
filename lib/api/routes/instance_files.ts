/**
 * /1.0/instances/NAME/files: LXD's file API (X-LXD-* headers). Every path is resolved inside the
 * instance's root by the kernel and every change is made on the open file (instances/files.ts),
 * so neither the path nor a symlink swapped in during a transfer reaches the host. Errors are
 * LXD's texts and never carry a host path.
 */
import type { Hono } from "hono";
import { type EntryInfo, type InRoot, type InstanceManager, SysError } from "../../instances/mod.ts";
import { badRequest, notFound, StatusError } from "../../util/mod.ts";
import type { ApiEnv, Ctx } from "../context.ts";
import { emptySync, projectOf, sync } from "./instances_common.ts";

/** The X-LXD-* headers of a push; ids outside 0..2^32-2 and unparsable values are refused. */
function fileHeaders(h: Headers): { uid: number; gid: number; mode: number; type: string; write: string } {
  const num = (name: string, base: number, max: number): number => {
    const v = h.get(name);
    if (v === null || v === "") return -1;
    const n = parseInt(v, base);
    if (!/^-?[0-9a-f]+$/i.test(v) || Number.isNaN(n)) throw badRequest(`Invalid ${name} header: "${v}"`);
    if (n === -1) return -1;
    if (n < 0 || n > max) throw badRequest(`Invalid ${name} header: "${v}"`);
    return n;
  };
  return {
    uid: num("X-LXD-uid", 10, 0xfffffffe),
    gid: num("X-LXD-gid", 10, 0xfffffffe),
    mode: num("X-LXD-mode", 8, 0o7777),
    type: h.get("X-LXD-type") || "file",
    write: h.get("X-LXD-write") || "overwrite",
  };
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

/** A file operation's failure in LXD's words, never with a host path in it. */
function fileError(e: unknown): never {
  if (e instanceof StatusError) throw e;
  if (e instanceof SysError) {
    if (e.errno === 2) throw notFound("No such file or directory");
    if (e.errno === 1 && e.call === "unlink") throw badRequest("Cannot delete the root directory");
    if (e.errno === 22) {
      throw badRequest("Invalid path, owner or file type: only regular files, directories and symlinks");
    }
    throw badRequest(e.message);
  }
  if (e instanceof Deno.errors.NotFound) throw notFound("No such file or directory");
  throw badRequest(`File operation failed: ${e instanceof Error ? e.name : "unknown error"}`);
}

function infoHeaders(i: EntryInfo, type: string): Record<string, string> {
  return {
    "X-LXD-uid": String(i.uid),
    "X-LXD-gid": String(i.gid),
    "X-LXD-mode": octal(i.mode),
    "X-LXD-type": type,
  };
}

async function getFile(root: InRoot, c: Ctx, path: string): Promise<Response> {
  try {
    const info = root.stat(path);
    if (info.type === "directory") {
      const entries = await root.readDir(path);
      for (const [k, v] of Object.entries(infoHeaders(info, "directory"))) c.header(k, v);
      return sync(c, entries);
    }
    if (info.type === "symlink") {
      return new Response(root.readlink(path), {
        headers: { ...infoHeaders(info, "symlink"), "Content-Type": "application/octet-stream" },
      });
    }
    const { file, info: f } = await root.openFile(path);
    return new Response(file.readable, {
      headers: {
        ...infoHeaders(f, "file"),
        "Content-Type": "application/octet-stream",
        "Content-Length": String(f.size),
      },
    });
  } catch (e) {
    fileError(e);
  }
}

async function putFile(root: InRoot, c: Ctx, path: string): Promise<Response> {
  const h = fileHeaders(c.req.raw.headers);
  if (!["overwrite", "append"].includes(h.write)) throw badRequest(`Bad file write mode: ${h.write}`);
  const ids = { uid: h.uid, gid: h.gid, mode: h.mode };
  try {
    if (h.type === "directory") root.mkdir(path, ids);
    else if (h.type === "symlink") {
      const target = await c.req.text();
      if (target === "" || target.includes("\0")) throw badRequest("Invalid symlink target");
      root.symlink(path, target, ids);
    } else if (h.type === "file") {
      await root.writeFile(path, c.req.raw.body, { ...ids, append: h.write === "append" });
    } else throw badRequest(`Bad file type: ${h.type}`);
  } catch (e) {
    fileError(e);
  }
  return emptySync(c);
}

/** The instance's file routes, on an app that has already found the instance's member. */
export function instanceFileRoutes(app: Hono<ApiEnv>, m: InstanceManager): void {
  const filePath = (c: Ctx): string => {
    const p = c.req.query("path") ?? "";
    if (p === "") throw badRequest("Missing path argument");
    if (p.includes("\0")) throw badRequest("Invalid path: it contains a NUL byte");
    return p.startsWith("/") ? p : "/" + p;
  };
  const withRoot = async <T>(c: Ctx, fn: (root: InRoot, path: string) => Promise<T>): Promise<T> => {
    const path = filePath(c);
    let root: InRoot;
    try {
      root = await m.in(projectOf(c)).files(c.req.param("name")!);
    } catch (e) {
      fileError(e);
    }
    try {
      return await fn(root, path);
    } finally {
      root[Symbol.dispose]();
    }
  };
  app.get("/1.0/instances/:name/files", (c) => withRoot(c, (r, p) => getFile(r, c, p)));
  app.on("HEAD", "/1.0/instances/:name/files", (c) =>
    withRoot(c, async (r, p) => {
      const res = await getFile(r, c, p);
      await res.body?.cancel();
      return new Response(null, { headers: res.headers });
    }));
  app.post("/1.0/instances/:name/files", (c) => withRoot(c, (r, p) => putFile(r, c, p)));
  app.delete("/1.0/instances/:name/files", (c) =>
    withRoot(c, (r, p) => {
      try {
        r.remove(p);
      } catch (e) {
        fileError(e);
      }
      return Promise.resolve(emptySync(c));
    }));
}
