import { Command, Option } from "commander";
import { Progress } from "./progress.ts";
import type { Image, Operation } from "../../lib/wire/mod.ts";
import { StatusError } from "../../lib/util/mod.ts";
import type { CliContext } from "./context.ts";
import { type Format, FORMATS, renderList, toYaml } from "./format.ts";
import { checkRaw, type Client, requestBytes } from "../../lib/client/mod.ts";

/** Size as lxc prints it (units.GetByteSizeString with 2 decimals). */
export function byteSize(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${n}B` : `${v.toFixed(2)}${units[i]}`;
}

/** Waits for an operation reply and throws its error, as lxc does. */
export async function waitOp(c: Client, op: string | undefined): Promise<Operation | null> {
  if (!op) return null;
  const done = await c.waitOperation(op);
  if (done.status_code !== 200) throw new StatusError(400, done.err || `Operation ${done.status}`);
  return done;
}

/** Resolves an alias or fingerprint prefix to a full fingerprint. */
export async function imageFingerprint(c: Client, name: string): Promise<string> {
  try {
    const a = await c.get<{ target: string }>(`/1.0/images/aliases/${encodeURIComponent(name)}`);
    return a.target;
  } catch (e) {
    if (!(e instanceof StatusError && e.status === 404)) throw e;
  }
  return (await c.get<Image>(`/1.0/images/${encodeURIComponent(name)}`)).fingerprint;
}

/** `image import|list|show|delete|alias`. */
export function imageCommand(ctx: CliContext): Command {
  const image = new Command("image").description("Manage images");
  image.command("import").description("Import images into the image store")
    .argument("<tarball>", "unified image tarball (metadata.yaml + rootfs/)")
    .argument("[remote]", "remote:")
    .option("--alias <alias...>", "New aliases to add to the image")
    .option("--public", "Make the image public")
    .action(
      async (file: string, remoteArg: string | undefined, o: { alias?: string[]; public?: boolean }) => {
        const c = await ctx.client(ctx.parseRemote(remoteArg ?? "").remote);
        let body: Uint8Array;
        try {
          body = await Deno.readFile(file);
        } catch (e) {
          throw new Error(
            `open ${file}: ${e instanceof Deno.errors.NotFound ? "no such file or directory" : e}`,
          );
        }
        const headers: Record<string, string> = {
          "Content-Type": "application/octet-stream",
          "X-LXD-filename": file.replace(/^.*\//, ""),
        };
        if (o.public) headers["X-LXD-public"] = "true";
        const bar = new Progress("Transferring image", { quiet: ctx.quiet });
        const r = checkRaw(
          await requestBytes(c, "POST", "/1.0/images", body, headers, (d, t) => bar.update(d, t)).finally(
            () => bar.done(),
          ),
        );
        const env = JSON.parse(new TextDecoder().decode(r.body));
        const op = await waitOp(c, env.operation);
        const fp = String(op?.metadata?.fingerprint ?? "");
        ctx.println(`Image imported with fingerprint: ${fp}`);
        for (const a of o.alias ?? []) {
          await c.request("DELETE", `/1.0/images/aliases/${encodeURIComponent(a)}`).catch(() => {});
          await c.request("POST", "/1.0/images/aliases", { body: { name: a, target: fp } });
        }
      },
    );
  image.command("list").alias("ls").description("List images")
    .argument("[remote]", "remote:")
    .addOption(new Option("-f, --format <format>", "Format").choices([...FORMATS]).default("table"))
    .action(async (remoteArg: string | undefined, o: { format: Format }) => {
      const c = await ctx.client(ctx.parseRemote(remoteArg ?? "").remote);
      const all = await c.get<Image[]>("/1.0/images?recursion=1");
      const rows = all.map((i) => [
        i.aliases.map((a) => a.name).join("\n"),
        i.fingerprint.slice(0, 12),
        i.public ? "yes" : "no",
        i.properties.description ?? "",
        i.architecture,
        i.type.toUpperCase(),
        byteSize(i.size),
        i.uploaded_at,
      ]);
      ctx.print(
        renderList(
          o.format,
          [
            "ALIAS",
            "FINGERPRINT",
            "PUBLIC",
            "DESCRIPTION",
            "ARCHITECTURE",
            "TYPE",
            "SIZE",
            "UPLOAD DATE",
          ],
          rows,
          all,
        ),
      );
    });
  image.command("show").description("Show image properties").argument("<image>")
    .action(async (name: string) => {
      const p = ctx.parseRemote(name);
      const c = await ctx.client(p.remote);
      const fp = await imageFingerprint(c, p.name);
      ctx.print(toYaml(await c.get(`/1.0/images/${fp}`)));
    });
  image.command("delete").alias("rm").description("Delete images").argument("<images...>")
    .action(async (names: string[]) => {
      for (const n of names) {
        const p = ctx.parseRemote(n);
        const c = await ctx.client(p.remote);
        const fp = await imageFingerprint(c, p.name);
        const r = await c.request("DELETE", `/1.0/images/${fp}`);
        await waitOp(c, r.operation);
      }
    });
  const alias = image.command("alias").description("Manage image aliases");
  alias.command("create").description("Create aliases for existing images")
    .argument("<alias>").argument("<fingerprint>").option("--description <text>", "Alias description")
    .action(async (a: string, target: string, o: { description?: string }) => {
      const p = ctx.parseRemote(a);
      const c = await ctx.client(p.remote);
      const fp = await imageFingerprint(c, target);
      await c.request("POST", "/1.0/images/aliases", {
        body: { name: p.name, target: fp, description: o.description ?? "" },
      });
    });
  alias.command("delete").alias("rm").description("Delete image aliases").argument("<alias>")
    .action(async (a: string) => {
      const p = ctx.parseRemote(a);
      await (await ctx.client(p.remote)).request(
        "DELETE",
        `/1.0/images/aliases/${encodeURIComponent(p.name)}`,
      );
    });
  alias.command("list").alias("ls").description("List image aliases").argument("[remote]")
    .addOption(new Option("-f, --format <format>", "Format").choices([...FORMATS]).default("table"))
    .action(async (remoteArg: string | undefined, o: { format: Format }) => {
      const c = await ctx.client(ctx.parseRemote(remoteArg ?? "").remote);
      const all = await c.get<{ name: string; target: string; type: string; description: string }[]>(
        "/1.0/images/aliases?recursion=1",
      );
      ctx.print(
        renderList(
          o.format,
          ["ALIAS", "FINGERPRINT", "TYPE", "DESCRIPTION"],
          all.map((a) => [a.name, a.target.slice(0, 12), a.type.toUpperCase(), a.description]),
          all,
        ),
      );
    });
  return image;
}
