import { Command, Option } from "commander";
import { YAML } from "./yaml.ts";
import type { Client } from "../../lib/client/mod.ts";
import type { CliContext } from "./context.ts";
import { readAll } from "./context.ts";
import { type Format, FORMATS, renderList, toYaml } from "./format.ts";
import { editInEditor } from "../../lib/util/editor.ts";

interface Pool {
  name: string;
  driver: string;
  description: string;
  used_by: string[];
  status: string;
  config: Record<string, string>;
  locations: string[];
}

interface Volume {
  name: string;
  type: string;
  description: string;
  config: Record<string, string>;
  used_by: string[];
  location: string;
  content_type: string;
}

/** The writable part of an instance (LXD's InstancePut), for a PUT that changes its devices. */
interface Writable {
  architecture: string;
  config: Record<string, string>;
  devices: Record<string, Record<string, string>>;
  ephemeral: boolean;
  profiles: string[];
  description: string;
}

function writable(i: Writable, devices: Writable["devices"]): Writable {
  return {
    architecture: i.architecture,
    config: i.config,
    devices,
    ephemeral: i.ephemeral,
    profiles: i.profiles,
    description: i.description,
  };
}

/** key=value arguments as a config object; lxc's message for one without "=". */
export function keyValues(kv: string[]): Record<string, string> {
  return Object.fromEntries(kv.map((x) => {
    const i = x.indexOf("=");
    if (i < 0) throw new Error(`Bad key=value pair: ${x}`);
    return [x.slice(0, i), x.slice(i + 1)];
  }));
}

/** `KEY VALUE` or `KEY=VALUE...` as lxc's set takes them. */
export function setArgs(args: string[]): Record<string, string> {
  if (args.length === 2 && !args[0]!.includes("=")) return { [args[0]!]: args[1]! };
  return keyValues(args);
}

/** `?target=` when the member was named (LXD's --target). */
export function targetQuery(target: string | undefined, first = true): string {
  return target ? `${first ? "?" : "&"}target=${encodeURIComponent(target)}` : "";
}

/** YAML from stdin (piped) or from $EDITOR on the current text (a terminal), as lxc edit does. */
async function editYaml(current: string): Promise<Record<string, unknown>> {
  if (!Deno.stdin.isTerminal()) return (YAML.parse(await readAll()) ?? {}) as Record<string, unknown>;
  return (YAML.parse(await editInEditor(current)) ?? {}) as Record<string, unknown>;
}

const formatOption = () =>
  new Option("-f, --format <format>", "Format").choices([...FORMATS]).default("table");
const targetOption = () => new Option("--target <member>", "Cluster member name");

/** Reads an object, changes its config, and writes it back with its ETag (lxc's get-modify-put). */
async function updateConfig(
  c: Client,
  path: string,
  change: (config: Record<string, string>) => void,
): Promise<void> {
  const r = await c.request<{ description: string; config: Record<string, string> }>("GET", path);
  const config = { ...r.metadata.config };
  change(config);
  await c.request("PUT", path, {
    body: { description: r.metadata.description, config },
    headers: r.etag ? { "If-Match": r.etag } : {},
  });
}

/** `storage list|show|create|delete|get|set|unset|edit` and `storage volume ...`, as lxc's. */
export function storageCommand(ctx: CliContext): Command {
  const storage = new Command("storage").description("Manage storage pools and volumes");
  const poolPath = (name: string) => `/1.0/storage-pools/${encodeURIComponent(name)}`;

  storage.command("list").alias("ls").description("List available storage pools").argument("[remote]")
    .addOption(formatOption())
    .action(async (remoteArg: string | undefined, o: { format: Format }) => {
      const c = await ctx.client(ctx.parseRemote(remoteArg ?? "").remote);
      const all = await c.get<Pool[]>("/1.0/storage-pools?recursion=1");
      const clustered = all.some((p) => p.locations.length > 1) ||
        (await c.get<{ environment?: { server_clustered?: boolean } }>("/1.0")).environment?.server_clustered;
      // As lxc: a pool's source is a member's own, so a cluster's list has no SOURCE column.
      const header = clustered
        ? ["NAME", "DRIVER", "DESCRIPTION", "USED BY", "STATE"]
        : ["NAME", "DRIVER", "SOURCE", "DESCRIPTION", "USED BY", "STATE"];
      ctx.print(renderList(
        o.format,
        header,
        all.map((p) => [
          p.name,
          p.driver,
          ...(clustered ? [] : [p.config.source ?? ""]),
          p.description,
          String(p.used_by.length),
          p.status.toUpperCase(),
        ]),
        all,
      ));
    });
  storage.command("show").description("Show storage pool configurations and resources").argument("<pool>")
    .addOption(targetOption())
    .action(async (name: string, o: { target?: string }) => {
      const p = ctx.parseRemote(name);
      ctx.print(
        toYaml(await (await ctx.client(p.remote)).get(`${poolPath(p.name)}${targetQuery(o.target)}`)),
      );
    });
  storage.command("create").description("Create storage pools").argument("<pool>").argument("<driver>")
    .argument("[key=value...]").addOption(targetOption())
    .action(async (name: string, driver: string, kv: string[], o: { target?: string }) => {
      const p = ctx.parseRemote(name);
      await (await ctx.client(p.remote)).request("POST", `/1.0/storage-pools${targetQuery(o.target)}`, {
        body: { name: p.name, driver, config: keyValues(kv) },
      });
      ctx.println(
        o.target ? `Storage pool ${p.name} pending on member ${o.target}` : `Storage pool ${p.name} created`,
      );
    });
  storage.command("delete").alias("rm").description("Delete storage pools").argument("<pool>")
    .action(async (name: string) => {
      const p = ctx.parseRemote(name);
      await (await ctx.client(p.remote)).request("DELETE", poolPath(p.name));
      ctx.println(`Storage pool ${p.name} deleted`);
    });
  storage.command("get").description("Get values for storage pool configuration keys").argument("<pool>")
    .argument("<key>").addOption(targetOption())
    .action(async (name: string, key: string, o: { target?: string }) => {
      const p = ctx.parseRemote(name);
      const pool = await (await ctx.client(p.remote)).get<Pool>(
        `${poolPath(p.name)}${targetQuery(o.target)}`,
      );
      ctx.println(pool.config[key] ?? "");
    });
  storage.command("set").description("Set storage pool configuration keys").argument("<pool>")
    .argument("<key=value...>").addOption(targetOption())
    .action(async (name: string, args: string[], o: { target?: string }) => {
      const p = ctx.parseRemote(name);
      const changes = setArgs(args);
      await updateConfig(
        await ctx.client(p.remote),
        `${poolPath(p.name)}${targetQuery(o.target)}`,
        (cfg) => Object.assign(cfg, changes),
      );
    });
  storage.command("unset").description("Unset storage pool configuration keys").argument("<pool>")
    .argument("<key>").addOption(targetOption())
    .action(async (name: string, key: string, o: { target?: string }) => {
      const p = ctx.parseRemote(name);
      await updateConfig(
        await ctx.client(p.remote),
        `${poolPath(p.name)}${targetQuery(o.target)}`,
        (cfg) => delete cfg[key],
      );
    });
  storage.command("edit").description("Edit storage pool configurations as YAML").argument("<pool>")
    .addOption(targetOption())
    .action(async (name: string, o: { target?: string }) => {
      const p = ctx.parseRemote(name);
      const c = await ctx.client(p.remote);
      const path = `${poolPath(p.name)}${targetQuery(o.target)}`;
      const r = await c.request<Pool>("GET", path);
      const put = await editYaml(toYaml({ config: r.metadata.config, description: r.metadata.description }));
      await c.request("PUT", path, {
        body: { description: put.description ?? "", config: put.config ?? {} },
        headers: r.etag ? { "If-Match": r.etag } : {},
      });
    });
  storage.addCommand(volumeCommand(ctx));
  return storage;
}

/** `storage volume list|create|show|get|set|unset|edit|rename|delete|attach|detach`. */
function volumeCommand(ctx: CliContext): Command {
  const volume = new Command("volume").description("Manage storage volumes");
  const volPath = (pool: string, name: string) =>
    `/1.0/storage-pools/${encodeURIComponent(pool)}/volumes/custom/${encodeURIComponent(name)}`;
  /** "custom/NAME" or "NAME" (only custom volumes are managed here). */
  const volName = (v: string) => v.replace(/^custom\//, "");

  volume.command("list").alias("ls").description("List storage volumes").argument("<pool>")
    .addOption(formatOption())
    .action(async (poolArg: string, o: { format: Format }) => {
      const p = ctx.parseRemote(poolArg);
      const c = await ctx.client(p.remote);
      const all = await c.get<Volume[]>(
        `/1.0/storage-pools/${encodeURIComponent(p.name)}/volumes?recursion=1`,
      );
      const clustered = all.some((v) => v.location !== "" && v.location !== "none");
      ctx.print(renderList(
        o.format,
        ["TYPE", "NAME", "DESCRIPTION", "CONTENT-TYPE", "USED BY", ...(clustered ? ["LOCATION"] : [])],
        all.map((v) => [
          v.type,
          v.name,
          v.description,
          v.content_type,
          String(v.used_by.length),
          ...(clustered ? [v.location] : []),
        ]),
        all,
      ));
    });
  volume.command("create").description("Create new custom storage volumes").argument("<pool>")
    .argument("<volume>").argument("[key=value...]").addOption(targetOption())
    .action(async (poolArg: string, name: string, kv: string[], o: { target?: string }) => {
      const p = ctx.parseRemote(poolArg);
      await (await ctx.client(p.remote)).request(
        "POST",
        `/1.0/storage-pools/${encodeURIComponent(p.name)}/volumes/custom${targetQuery(o.target)}`,
        { body: { name, type: "custom", config: keyValues(kv) } },
      );
      ctx.println(`Storage volume ${name} created`);
    });
  volume.command("show").description("Show storage volume configurations").argument("<pool>")
    .argument("<volume>").addOption(targetOption())
    .action(async (poolArg: string, name: string, o: { target?: string }) => {
      const p = ctx.parseRemote(poolArg);
      const v = await (await ctx.client(p.remote)).get<Volume>(
        `${volPath(p.name, volName(name))}${targetQuery(o.target)}`,
      );
      ctx.print(toYaml(v));
    });
  volume.command("get").description("Get values for storage volume configuration keys").argument("<pool>")
    .argument("<volume>").argument("<key>").addOption(targetOption())
    .action(async (poolArg: string, name: string, key: string, o: { target?: string }) => {
      const p = ctx.parseRemote(poolArg);
      const v = await (await ctx.client(p.remote)).get<Volume>(
        `${volPath(p.name, volName(name))}${targetQuery(o.target)}`,
      );
      ctx.println(v.config[key] ?? "");
    });
  volume.command("set").description("Set storage volume configuration keys").argument("<pool>")
    .argument("<volume>").argument("<key=value...>").addOption(targetOption())
    .action(async (poolArg: string, name: string, args: string[], o: { target?: string }) => {
      const p = ctx.parseRemote(poolArg);
      const changes = setArgs(args);
      await updateConfig(
        await ctx.client(p.remote),
        `${volPath(p.name, volName(name))}${targetQuery(o.target)}`,
        (cfg) => Object.assign(cfg, changes),
      );
    });
  volume.command("unset").description("Unset storage volume configuration keys").argument("<pool>")
    .argument("<volume>").argument("<key>").addOption(targetOption())
    .action(async (poolArg: string, name: string, key: string, o: { target?: string }) => {
      const p = ctx.parseRemote(poolArg);
      await updateConfig(
        await ctx.client(p.remote),
        `${volPath(p.name, volName(name))}${targetQuery(o.target)}`,
        (cfg) => delete cfg[key],
      );
    });
  volume.command("edit").description("Edit storage volume configurations as YAML").argument("<pool>")
    .argument("<volume>").addOption(targetOption())
    .action(async (poolArg: string, name: string, o: { target?: string }) => {
      const p = ctx.parseRemote(poolArg);
      const c = await ctx.client(p.remote);
      const path = `${volPath(p.name, volName(name))}${targetQuery(o.target)}`;
      const r = await c.request<Volume>("GET", path);
      const put = await editYaml(toYaml({ config: r.metadata.config, description: r.metadata.description }));
      await c.request("PUT", path, {
        body: { description: put.description ?? "", config: put.config ?? {} },
        headers: r.etag ? { "If-Match": r.etag } : {},
      });
    });
  volume.command("rename").description("Rename storage volumes").argument("<pool>").argument("<old>")
    .argument("<new>").addOption(targetOption())
    .action(async (poolArg: string, from: string, to: string, o: { target?: string }) => {
      const p = ctx.parseRemote(poolArg);
      await (await ctx.client(p.remote)).request(
        "POST",
        `${volPath(p.name, volName(from))}${targetQuery(o.target)}`,
        {
          body: { name: volName(to) },
        },
      );
      ctx.println(`Renamed storage volume from "${volName(from)}" to "${volName(to)}"`);
    });
  volume.command("delete").alias("rm").description("Delete storage volumes").argument("<pool>")
    .argument("<volume>").addOption(targetOption())
    .action(async (poolArg: string, name: string, o: { target?: string }) => {
      const p = ctx.parseRemote(poolArg);
      await (await ctx.client(p.remote)).request(
        "DELETE",
        `${volPath(p.name, volName(name))}${targetQuery(o.target)}`,
      );
      ctx.println(`Storage volume ${volName(name)} deleted`);
    });
  volume.command("attach").description("Attach new storage volumes to instances").argument("<pool>")
    .argument("<volume>").argument("<instance>").argument("[device]").argument("[path]")
    .action(async (poolArg: string, name: string, instance: string, dev?: string, path?: string) => {
      // As lxc: with three arguments after the pool the third is the path, the device named after the volume.
      if (path === undefined) [dev, path] = [volName(name), dev];
      if (!path) throw new Error("No device path specified");
      const p = ctx.parseRemote(poolArg);
      const c = await ctx.client(p.remote);
      const ipath = `/1.0/instances/${encodeURIComponent(instance)}`;
      const r = await c.request<Writable>("GET", ipath);
      if (r.metadata.devices[dev!]) throw new Error("The device already exists");
      const devices = {
        ...r.metadata.devices,
        [dev!]: { type: "disk", pool: p.name, source: volName(name), path },
      };
      await c.request("PUT", ipath, {
        body: writable(r.metadata, devices),
        headers: r.etag ? { "If-Match": r.etag } : {},
      });
    });
  volume.command("detach").description("Detach storage volumes from instances").argument("<pool>")
    .argument("<volume>").argument("<instance>").argument("[device]")
    .action(async (poolArg: string, name: string, instance: string, dev?: string) => {
      const p = ctx.parseRemote(poolArg);
      const c = await ctx.client(p.remote);
      const ipath = `/1.0/instances/${encodeURIComponent(instance)}`;
      const r = await c.request<Writable>("GET", ipath);
      const devices = { ...r.metadata.devices };
      const match = dev ??
        Object.entries(devices).find(([, d]) =>
          d.type === "disk" && d.pool === p.name && d.source === volName(name)
        )?.[0];
      if (!match || !devices[match]) {
        throw new Error("No storage volume with the given name is attached to the instance");
      }
      delete devices[match];
      await c.request("PUT", ipath, {
        body: writable(r.metadata, devices),
        headers: r.etag ? { "If-Match": r.etag } : {},
      });
    });
  return volume;
}
