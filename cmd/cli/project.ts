import { Command, Option } from "commander";
import type { CliContext } from "./context.ts";
import { writeClientConfig } from "./config_file.ts";
import { type Format, FORMATS, renderList, toYaml } from "./format.ts";

interface Project {
  name: string;
  description: string;
  config: Record<string, string>;
  used_by: string[];
}

interface Resource {
  limit: number;
  usage: number;
}

const path = (name: string) => `/1.0/projects/${encodeURIComponent(name)}`;
const yesNo = (v: string | undefined) => (v === "true" ? "YES" : "NO");

/** Splits KEY=VALUE arguments (lxc's `project set p k=v k2=v2`, or `set p k v`). */
function keyValues(args: string[]): Record<string, string> {
  if (args.length === 2 && !args[0]!.includes("=")) return { [args[0]!]: args[1]! };
  const out: Record<string, string> = {};
  for (const a of args) {
    const i = a.indexOf("=");
    if (i <= 0) throw new Error(`Invalid key=value configuration: ${a}`);
    out[a.slice(0, i)] = a.slice(i + 1);
  }
  return out;
}

/** `project list|create|show|get|set|unset|rename|delete|switch|info`, as lxc's. */
export function projectCommand(ctx: CliContext): Command {
  const project = new Command("project").description("Manage projects");
  const client = (remote: string) => ctx.client(remote);
  project.command("list").alias("ls").description("List projects").argument("[remote]")
    .addOption(new Option("-f, --format <format>", "Format").choices([...FORMATS]).default("table"))
    .action(async (remoteArg: string | undefined, o: { format: Format }) => {
      const remote = ctx.parseRemote(remoteArg ?? "").remote;
      const all = await (await client(remote)).get<Project[]>("/1.0/projects?recursion=1");
      const current = ctx.projectOf(remote) ?? "default";
      ctx.print(renderList(
        o.format,
        ["NAME", "IMAGES", "PROFILES", "STORAGE VOLUMES", "NETWORKS", "DESCRIPTION", "USED BY"],
        all.map((p) => [
          p.name === current ? `${p.name} (current)` : p.name,
          yesNo(p.config["features.images"]),
          yesNo(p.config["features.profiles"]),
          yesNo(p.config["features.storage.volumes"]),
          yesNo(p.config["features.networks"]),
          p.description,
          String(p.used_by.length),
        ]),
        all,
      ));
    });
  project.command("create").description("Create projects").argument("<project>")
    .option("-c, --config <key=value...>", "Config key/value to apply to the new project")
    .action(async (name: string, o: { config?: string[] }) => {
      const p = ctx.parseRemote(name);
      await (await client(p.remote)).request("POST", "/1.0/projects", {
        body: { name: p.name, config: keyValues(o.config ?? []) },
      });
      ctx.println(`Project ${p.name} created`);
    });
  project.command("show").description("Show project options").argument("<project>")
    .action(async (name: string) => {
      const p = ctx.parseRemote(name);
      ctx.print(toYaml(await (await client(p.remote)).get(path(p.name))));
    });
  project.command("get").description("Get values for project configuration keys").argument("<project>")
    .argument("<key>")
    .action(async (name: string, key: string) => {
      const p = ctx.parseRemote(name);
      const pr = await (await client(p.remote)).get<Project>(path(p.name));
      ctx.println(pr.config[key] ?? "");
    });
  const change = (keys: Record<string, string | null>, name: string) => async () => {
    const p = ctx.parseRemote(name);
    const c = await client(p.remote);
    const r = await c.request<Project>("GET", path(p.name));
    const config = { ...r.metadata.config };
    for (const [k, v] of Object.entries(keys)) {
      if (v === null) {
        if (!(k in config)) throw new Error(`Can't unset key '${k}', it's not currently set`);
        delete config[k];
      } else config[k] = v;
    }
    await c.request("PUT", path(p.name), {
      body: { description: r.metadata.description, config },
      headers: r.etag ? { "If-Match": r.etag } : {},
    });
  };
  project.command("set").description("Set project configuration keys").argument("<project>")
    .argument("<key=value...>")
    .action(async (name: string, kv: string[]) => await change(keyValues(kv), name)());
  project.command("unset").description("Unset project configuration keys").argument("<project>")
    .argument("<key>")
    .action(async (name: string, key: string) => await change({ [key]: null }, name)());
  project.command("rename").description("Rename projects").argument("<project>").argument("<new-name>")
    .action(async (name: string, newName: string) => {
      const p = ctx.parseRemote(name);
      await (await client(p.remote)).runOperation("POST", path(p.name), { body: { name: newName } });
      ctx.println(`Project ${p.name} renamed to ${newName}`);
    });
  project.command("delete").alias("rm").description("Delete projects").argument("<project>")
    .action(async (name: string) => {
      const p = ctx.parseRemote(name);
      await (await client(p.remote)).request("DELETE", path(p.name));
      ctx.println(`Project ${p.name} deleted`);
    });
  project.command("switch").description("Switch the current project").argument("<project>")
    .action(async (name: string) => {
      const p = ctx.parseRemote(name);
      await (await client(p.remote)).get(path(p.name));
      const r = ctx.config.remotes[p.remote];
      if (!r) throw new Error(`The remote "${p.remote}" doesn't exist`);
      r.project = p.name;
      writeClientConfig(ctx.config, ctx.confDir);
    });
  project.command("info").description("Get a summary of resource allocations").argument("<project>")
    .addOption(new Option("-f, --format <format>", "Format").choices([...FORMATS]).default("table"))
    .action(async (name: string, o: { format: Format }) => {
      const p = ctx.parseRemote(name);
      const st = await (await client(p.remote)).get<{ resources: Record<string, Resource> }>(
        `${path(p.name)}/state`,
      );
      const bytes = (k: string) => k === "disk" || k === "memory";
      const show = (k: string, n: number) => (n < 0 ? "UNLIMITED" : bytes(k) ? `${iec(n)}` : String(n));
      ctx.print(renderList(
        o.format,
        ["RESOURCE", "LIMIT", "USAGE"],
        Object.keys(st.resources).sort().map((k) => [
          k.toUpperCase(),
          show(k, st.resources[k]!.limit),
          bytes(k) ? iec(st.resources[k]!.usage) : String(st.resources[k]!.usage),
        ]),
        st,
      ));
    });
  return project;
}

/** Bytes as lxc prints them ("64.00MiB", "0B"). */
function iec(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v}B` : `${v.toFixed(2)}${units[i]}`;
}
