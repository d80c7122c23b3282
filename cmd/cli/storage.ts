import { Command, Option } from "commander";
import type { CliContext } from "./context.ts";
import { type Format, FORMATS, renderList, toYaml } from "./format.ts";

/** `storage list|show|create|delete`. */
export function storageCommand(ctx: CliContext): Command {
  const storage = new Command("storage").description("Manage storage pools and volumes");
  storage.command("list").alias("ls").description("List available storage pools").argument("[remote]")
    .addOption(new Option("-f, --format <format>", "Format").choices([...FORMATS]).default("table"))
    .action(async (remoteArg: string | undefined, o: { format: Format }) => {
      const c = await ctx.client(ctx.parseRemote(remoteArg ?? "").remote);
      const all = await c.get<
        {
          name: string;
          driver: string;
          description: string;
          used_by: string[];
          status: string;
          config: Record<string, string>;
        }[]
      >("/1.0/storage-pools?recursion=1");
      ctx.print(
        renderList(
          o.format,
          ["NAME", "DRIVER", "SOURCE", "DESCRIPTION", "USED BY", "STATE"],
          all.map((p) => [
            p.name,
            p.driver,
            p.config.source ?? "",
            p.description,
            String(p.used_by.length),
            p.status.toUpperCase(),
          ]),
          all,
        ),
      );
    });
  storage.command("show").description("Show storage pool configurations and resources").argument("<pool>")
    .action(async (name: string) => {
      const p = ctx.parseRemote(name);
      ctx.print(
        toYaml(await (await ctx.client(p.remote)).get(`/1.0/storage-pools/${encodeURIComponent(p.name)}`)),
      );
    });
  storage.command("create").description("Create storage pools").argument("<pool>").argument("<driver>")
    .argument("[key=value...]")
    .action(async (name: string, driver: string, kv: string[]) => {
      const p = ctx.parseRemote(name);
      const config = Object.fromEntries(kv.map((x) => {
        const i = x.indexOf("=");
        if (i < 0) throw new Error(`Bad key=value pair: ${x}`);
        return [x.slice(0, i), x.slice(i + 1)];
      }));
      await (await ctx.client(p.remote)).request("POST", "/1.0/storage-pools", {
        body: { name: p.name, driver, config },
      });
      ctx.println(`Storage pool ${p.name} created`);
    });
  storage.command("delete").alias("rm").description("Delete storage pools").argument("<pool>")
    .action(async (name: string) => {
      const p = ctx.parseRemote(name);
      await (await ctx.client(p.remote)).request(
        "DELETE",
        `/1.0/storage-pools/${encodeURIComponent(p.name)}`,
      );
      ctx.println(`Storage pool ${p.name} deleted`);
    });
  return storage;
}
