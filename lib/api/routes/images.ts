import { Hono } from "hono";
import {
  type AliasRecord,
  createAlias,
  createImage,
  deleteAlias,
  deleteImage,
  findImage,
  getAlias,
  imageProjectId,
  type ImageRecord,
  listAliases,
  listImages,
  updateAlias,
  updateImage,
} from "../../db/mod.ts";
import { projectUrl } from "../../db/mod.ts";
import type { InstanceManager } from "../../instances/mod.ts";
import { badRequest, checkName, conflict, etag, notFound } from "../../util/mod.ts";
import type { Image } from "../../wire/mod.ts";
import { readJson } from "../body.ts";
import { fileResponse } from "../file_response.ts";
import type { ApiEnv, Ctx, ServerContext } from "../context.ts";
import { async, emptySync, sync } from "../response.ts";

/** LXD's Image object. */
export function imageJSON(i: ImageRecord): Image {
  return {
    auto_update: i.auto_update,
    properties: i.properties,
    public: i.public,
    expires_at: i.expires_at,
    profiles: ["default"],
    aliases: i.aliases,
    architecture: i.architecture,
    cached: i.cached,
    filename: i.filename,
    fingerprint: i.fingerprint,
    size: i.size,
    type: i.type,
    created_at: i.created_at,
    last_used_at: i.last_used_at,
    uploaded_at: i.uploaded_at,
  };
}

function aliasJSON(a: AliasRecord): Record<string, unknown> {
  return { name: a.name, description: a.description, target: a.target, type: a.type };
}

/** Parses X-LXD-properties (URL-encoded key=value pairs, as lxc sends them). */
function headerProperties(h: string | undefined): Record<string, string> {
  if (!h) return {};
  return Object.fromEntries(new URLSearchParams(h).entries());
}

/** Streams a request body into a file; returns its size. */
async function saveBody(body: ReadableStream<Uint8Array> | null, path: string): Promise<number> {
  const f = await Deno.open(path, { write: true, truncate: true });
  let size = 0;
  if (!body) {
    f.close();
    return 0;
  }
  const counted = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        size += chunk.length;
        ctl.enqueue(chunk);
      },
    }),
  );
  await counted.pipeTo(f.writable);
  return size;
}

/** /1.0/images and /1.0/images/aliases. */
export function imageRoutes(m: InstanceManager): (ctx: ServerContext) => Hono<ApiEnv> {
  return (ctx) => {
    const app = new Hono<ApiEnv>();
    const recursion = (q: string | undefined) => (q ?? "0") !== "0";
    // The request's project; its images are its own or default's (features.images).
    const pj = (c: Ctx) => c.req.query("project") || "default";
    const lc = (c: Ctx, action: string, source: string, context: Record<string, unknown> = {}) =>
      ctx.events.lifecycle(action, projectUrl(source, pj(c)), context, pj(c));

    // One file serves every project that holds the image: it goes with the last row.
    const removeUnused = async (fingerprint: string) => {
      const used = await ctx.db.read((tx) =>
        tx.get("SELECT id FROM images WHERE fingerprint = ?", fingerprint)
      );
      if (!used) await m.images.remove(fingerprint);
    };

    // Aliases first: "aliases" is not a fingerprint.
    app.get("/1.0/images/aliases", async (c) => {
      const all = await ctx.db.read((tx) => listAliases(tx, imageProjectId(tx, pj(c))));
      return sync(
        c,
        recursion(c.req.query("recursion"))
          ? all.map(aliasJSON)
          : all.map((a) => `/1.0/images/aliases/${encodeURIComponent(a.name)}`),
      );
    });
    app.post("/1.0/images/aliases", async (c) => {
      const b = await readJson<{ name?: string; target?: string; description?: string }>(c);
      if (!b.name) throw badRequest("Alias name missing");
      if (typeof b.name === "string" && b.name.includes("/")) {
        throw badRequest("Alias names may not contain slashes");
      }
      checkName("image alias", b.name);
      if (!b.target) throw badRequest("Alias target missing");
      const target = await ctx.db.read((tx) =>
        findImage(tx, b.target!, imageProjectId(tx, pj(c))).fingerprint
      );
      await ctx.db.run(createAlias, {
        name: b.name,
        target,
        description: b.description ?? "",
        project: pj(c),
      });
      lc(c, "image-alias-created", `/1.0/images/aliases/${b.name}`, { target });
      c.header("Location", `/1.0/images/aliases/${encodeURIComponent(b.name)}`);
      return sync(c, {});
    });
    app.get("/1.0/images/aliases/:name", async (c) => {
      const a = await ctx.db.read((tx) => getAlias(tx, c.req.param("name"), imageProjectId(tx, pj(c))));
      return sync(c, aliasJSON(a), { etag: etag([a.name, a.target, a.description]) });
    });
    const putAlias = (patch: boolean) => async (c: Ctx) => {
      const name = c.req.param("name")!;
      const cur = await ctx.db.read((tx) => getAlias(tx, name, imageProjectId(tx, pj(c))));
      const b = await readJson<{ target?: string; description?: string }>(c);
      const targetIn = b.target ?? (patch ? cur.target : "");
      if (!targetIn) throw badRequest("The target field is required");
      const target = await ctx.db.read((tx) =>
        findImage(tx, targetIn, imageProjectId(tx, pj(c))).fingerprint
      );
      await ctx.db.run(updateAlias, {
        name,
        target,
        description: b.description ?? (patch ? cur.description : ""),
        project: pj(c),
      });
      return emptySync(c);
    };
    app.put("/1.0/images/aliases/:name", putAlias(false));
    app.patch("/1.0/images/aliases/:name", putAlias(true));
    app.delete("/1.0/images/aliases/:name", async (c) => {
      await ctx.db.run(deleteAlias, { name: c.req.param("name"), project: pj(c) });
      lc(c, "image-alias-deleted", `/1.0/images/aliases/${c.req.param("name")}`);
      return emptySync(c);
    });

    app.get("/1.0/images", async (c) => {
      const all = await ctx.db.read((tx) => listImages(tx, imageProjectId(tx, pj(c))));
      return sync(
        c,
        recursion(c.req.query("recursion"))
          ? all.map(imageJSON)
          : all.map((i) => `/1.0/images/${i.fingerprint}`),
      );
    });

    // Upload: the raw unified tarball as the body (what `lxc image import FILE` sends).
    app.post("/1.0/images", async (c) => {
      const type = c.req.header("Content-Type") ?? "";
      if (type.startsWith("application/json")) {
        const b = await readJson<{ source?: { type?: string } }>(c);
        throw badRequest(
          b.source
            ? `Image source type "${b.source.type ?? ""}" is not supported: upload the tarball`
            : "No source provided",
        );
      }
      if (type.startsWith("multipart/")) {
        throw badRequest(
          "Split images (metadata and rootfs apart) are not supported: upload a unified tarball",
        );
      }
      const tmp = await m.images.tempFile();
      try {
        await saveBody(c.req.raw.body, tmp);
      } catch (e) {
        await Deno.remove(tmp).catch(() => {});
        throw e;
      }
      const isPublic = ["true", "1"].includes(c.req.header("X-LXD-public") ?? "");
      const filename = c.req.header("X-LXD-filename") ?? "";
      const extra = headerProperties(c.req.header("X-LXD-properties"));
      const project = pj(c);
      await ctx.db.read((tx) => imageProjectId(tx, project));
      const op = ctx.operations.create({
        class: "task",
        description: "Downloading image",
        resources: {},
        project,
        run: async () => {
          const info = await m.images.adopt(tmp);
          const exists = await ctx.db.read((tx) => {
            try {
              findImage(tx, info.fingerprint, imageProjectId(tx, project));
              return true;
            } catch {
              return false;
            }
          });
          if (exists) throw conflict(`Image with same fingerprint already exists`);
          try {
            await ctx.db.run(createImage, {
              fingerprint: info.fingerprint,
              filename,
              size: info.size,
              public: isPublic,
              architecture: info.metadata.architecture,
              createdAt: info.metadata.creation_date
                ? new Date(info.metadata.creation_date * 1000).toISOString()
                : null,
              properties: { ...info.metadata.properties, ...extra },
              member: ctx.location(),
              project,
            });
          } catch (e) {
            await removeUnused(info.fingerprint);
            throw e;
          }
          lc(c, "image-created", `/1.0/images/${info.fingerprint}`);
          return { fingerprint: info.fingerprint, size: info.size };
        },
      });
      return async(c, op.toJSON());
    });

    app.get("/1.0/images/:fp", async (c) => {
      const i = await ctx.db.read((tx) => findImage(tx, c.req.param("fp"), imageProjectId(tx, pj(c))));
      return sync(c, imageJSON(i), {
        etag: etag([i.auto_update, i.properties, i.public, i.expires_at]),
      });
    });
    const putImage = (patch: boolean) => async (c: Ctx) => {
      const i = await ctx.db.read((tx) => findImage(tx, c.req.param("fp")!, imageProjectId(tx, pj(c))));
      const b = await readJson<
        { public?: boolean; auto_update?: boolean; properties?: Record<string, string>; expires_at?: string }
      >(c);
      await ctx.db.run(updateImage, {
        fingerprint: i.fingerprint,
        public: b.public ?? (patch ? i.public : false),
        autoUpdate: b.auto_update ?? (patch ? i.auto_update : false),
        properties: patch ? { ...i.properties, ...(b.properties ?? {}) } : (b.properties ?? {}),
        expiresAt: b.expires_at && !b.expires_at.startsWith("0001") ? b.expires_at : null,
        project: pj(c),
      });
      lc(c, "image-updated", `/1.0/images/${i.fingerprint}`);
      return emptySync(c);
    };
    app.put("/1.0/images/:fp", putImage(false));
    app.patch("/1.0/images/:fp", putImage(true));
    app.delete("/1.0/images/:fp", async (c) => {
      const i = await ctx.db.read((tx) => findImage(tx, c.req.param("fp"), imageProjectId(tx, pj(c))));
      const op = ctx.operations.create({
        class: "task",
        description: "Deleting image",
        resources: { images: [`/1.0/images/${i.fingerprint}`] },
        project: pj(c),
        run: async () => {
          await ctx.db.run(deleteImage, { fingerprint: i.fingerprint, project: pj(c) });
          await removeUnused(i.fingerprint);
          lc(c, "image-deleted", `/1.0/images/${i.fingerprint}`);
        },
      });
      return async(c, op.toJSON());
    });
    app.get("/1.0/images/:fp/export", async (c) => {
      const i = await ctx.db.read((tx) => findImage(tx, c.req.param("fp"), imageProjectId(tx, pj(c))));
      let f: Deno.FsFile;
      try {
        f = await Deno.open(m.images.path(i.fingerprint));
      } catch {
        throw notFound("Image file not found on this member");
      }
      // A member resuming a broken fetch asks for the rest only (Range: bytes=N-).
      return await fileResponse(f, c.req.header("Range") ?? null, {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": `attachment; filename=${i.filename || i.fingerprint + ".tar.gz"}`,
      });
    });
    return app;
  };
}
