import type { Profile } from "../../lib/wire/mod.ts";
import { Command, Option } from "commander";
import { YAML } from "./yaml.ts";
import type { CliContext } from "./context.ts";
import { readAll } from "./context.ts";
import { type Format, FORMATS, renderList, toYaml } from "./format.ts";
import { editInEditor } from "../../lib/util/editor.ts";

/** `profile list|show|edit|create|delete`. */
export function profileCommand(ctx: CliContext): Command {
  const profile = new Command("profile").description("Manage profiles");
  profile.command("list").alias("ls").description("List profiles").argument("[remote]")
    .addOption(new Option("-f, --format <format>", "Format").choices([...FORMATS]).default("table"))
    .action(async (remoteArg: string | undefined, o: { format: Format }) => {
      const c = await ctx.client(ctx.parseRemote(remoteArg ?? "").remote);
      const all = await c.get<Profile[]>("/1.0/profiles?recursion=1");
      ctx.print(
        renderList(
          o.format,
          ["NAME", "DESCRIPTION", "USED BY"],
          all.map((p) => [p.name, p.description, String(p.used_by.length)]),
          all,
        ),
      );
    });
  profile.command("show").description("Show profile configurations").argument("<profile>")
    .action(async (name: string) => {
      const p = ctx.parseRemote(name);
      ctx.print(
        toYaml(await (await ctx.client(p.remote)).get(`/1.0/profiles/${encodeURIComponent(p.name)}`)),
      );
    });
  profile.command("edit").description(
    "Edit profile configurations as YAML (from stdin when it is not a terminal)",
  )
    .argument("<profile>")
    .action(async (name: string) => {
      const p = ctx.parseRemote(name);
      const c = await ctx.client(p.remote);
      const path = `/1.0/profiles/${encodeURIComponent(p.name)}`;
      const r = await c.request<Profile>("GET", path);
      const { used_by: _u, name: _n, ...writable } = r.metadata;
      const text = Deno.stdin.isTerminal() ? await editInEditor(toYaml(writable)) : await readAll();
      const put = (YAML.parse(text) ?? {}) as Partial<Profile>;
      await c.request("PUT", path, {
        body: { description: put.description ?? "", config: put.config ?? {}, devices: put.devices ?? {} },
        headers: r.etag ? { "If-Match": r.etag } : {},
      });
    });
  profile.command("create").description("Create profiles").argument("<profile>")
    .action(async (name: string) => {
      const p = ctx.parseRemote(name);
      await (await ctx.client(p.remote)).request("POST", "/1.0/profiles", { body: { name: p.name } });
      ctx.println(`Profile ${p.name} created`);
    });
  profile.command("delete").alias("rm").description("Delete profiles").argument("<profile>")
    .action(async (name: string) => {
      const p = ctx.parseRemote(name);
      await (await ctx.client(p.remote)).request("DELETE", `/1.0/profiles/${encodeURIComponent(p.name)}`);
      ctx.println(`Profile ${p.name} deleted`);
    });
  return profile;
}
