import { Command, Option } from "commander";
import { YAML } from "./yaml.ts";
import type { CliContext } from "./context.ts";
import { readAll } from "./context.ts";
import { type Format, FORMATS, renderList, toYaml } from "./format.ts";
import { keyValues, setArgs, targetQuery } from "./storage.ts";

interface Network {
  name: string;
  type: string;
  managed: boolean;
  description: string;
  config: Record<string, string>;
  used_by: string[];
  status: string;
  locations: string[];
}

interface Lease {
  hostname: string;
  hwaddr: string;
  address: string;
  type: string;
  location: string;
}

const formatOption = () =>
  new Option("-f, --format <format>", "Format").choices([...FORMATS]).default("table");
const targetOption = () => new Option("--target <member>", "Cluster member name");

/** `network list|show|create|delete|get|set|unset|edit|list-leases`, as lxc's. */
export function networkCommand(ctx: CliContext): Command {
  const network = new Command("network").description("Manage and attach instances to networks");
  const path = (name: string) => `/1.0/networks/${encodeURIComponent(name)}`;

  network.command("list").alias("ls").description("List available networks").argument("[remote]")
    .addOption(formatOption())
    .action(async (remoteArg: string | undefined, o: { format: Format }) => {
      const c = await ctx.client(ctx.parseRemote(remoteArg ?? "").remote);
      const all = await c.get<Network[]>("/1.0/networks?recursion=1");
      ctx.print(renderList(
        o.format,
        ["NAME", "TYPE", "MANAGED", "IPV4", "IPV6", "DESCRIPTION", "USED BY", "STATE"],
        all.map((n) => [
          n.name,
          n.type,
          n.managed ? "YES" : "NO",
          n.config["ipv4.address"] ?? "",
          n.config["ipv6.address"] ?? "",
          n.description,
          String(n.used_by.length),
          n.status.toUpperCase(),
        ]),
        all,
      ));
    });
  network.command("show").description("Show network configurations").argument("<network>")
    .addOption(targetOption())
    .action(async (name: string, o: { target?: string }) => {
      const p = ctx.parseRemote(name);
      ctx.print(toYaml(await (await ctx.client(p.remote)).get(`${path(p.name)}${targetQuery(o.target)}`)));
    });
  network.command("create").description("Create new networks").argument("<network>")
    .argument("[key=value...]").addOption(targetOption())
    .option("-t, --type <type>", "Network type", "bridge")
    .action(async (name: string, kv: string[], o: { target?: string; type: string }) => {
      const p = ctx.parseRemote(name);
      await (await ctx.client(p.remote)).request("POST", `/1.0/networks${targetQuery(o.target)}`, {
        body: { name: p.name, type: o.type, config: keyValues(kv) },
      });
      ctx.println(o.target ? `Network ${p.name} pending on member ${o.target}` : `Network ${p.name} created`);
    });
  network.command("delete").alias("rm").description("Delete networks").argument("<network>")
    .action(async (name: string) => {
      const p = ctx.parseRemote(name);
      await (await ctx.client(p.remote)).request("DELETE", path(p.name));
      ctx.println(`Network ${p.name} deleted`);
    });
  network.command("get").description("Get values for network configuration keys").argument("<network>")
    .argument("<key>").addOption(targetOption())
    .action(async (name: string, key: string, o: { target?: string }) => {
      const p = ctx.parseRemote(name);
      const n = await (await ctx.client(p.remote)).get<Network>(`${path(p.name)}${targetQuery(o.target)}`);
      ctx.println(n.config[key] ?? "");
    });
  const change = async (
    name: string,
    target: string | undefined,
    fn: (c: Record<string, string>) => void,
  ) => {
    const p = ctx.parseRemote(name);
    const c = await ctx.client(p.remote);
    const url = `${path(p.name)}${targetQuery(target)}`;
    const r = await c.request<Network>("GET", url);
    const config = { ...r.metadata.config };
    fn(config);
    await c.request("PUT", url, {
      body: { description: r.metadata.description, config },
      headers: r.etag ? { "If-Match": r.etag } : {},
    });
  };
  network.command("set").description("Set network configuration keys").argument("<network>")
    .argument("<key=value...>").addOption(targetOption())
    .action(async (name: string, args: string[], o: { target?: string }) => {
      const changes = setArgs(args);
      await change(name, o.target, (c) => Object.assign(c, changes));
    });
  network.command("unset").description("Unset network configuration keys").argument("<network>")
    .argument("<key>").addOption(targetOption())
    .action(async (name: string, key: string, o: { target?: string }) => {
      await change(name, o.target, (c) => delete c[key]);
    });
  network.command("edit").description("Edit network configurations as YAML (from stdin when piped)")
    .argument("<network>").addOption(targetOption())
    .action(async (name: string, o: { target?: string }) => {
      if (Deno.stdin.isTerminal()) throw new Error("Pipe the YAML to edit on stdin");
      const put = (YAML.parse(await readAll()) ?? {}) as Partial<Network>;
      const p = ctx.parseRemote(name);
      const c = await ctx.client(p.remote);
      const url = `${path(p.name)}${targetQuery(o.target)}`;
      const r = await c.request<Network>("GET", url);
      await c.request("PUT", url, {
        body: { description: put.description ?? "", config: put.config ?? {} },
        headers: r.etag ? { "If-Match": r.etag } : {},
      });
    });
  network.command("list-leases").description("List DHCP leases").argument("<network>")
    .addOption(formatOption())
    .action(async (name: string, o: { format: Format }) => {
      const p = ctx.parseRemote(name);
      const leases = await (await ctx.client(p.remote)).get<Lease[]>(`${path(p.name)}/leases`);
      const clustered = leases.some((l) => l.location !== "" && l.location !== "none");
      ctx.print(renderList(
        o.format,
        ["HOSTNAME", "MAC ADDRESS", "IP ADDRESS", "TYPE", ...(clustered ? ["LOCATION"] : [])],
        leases.map((
          l,
        ) => [l.hostname, l.hwaddr, l.address, l.type.toUpperCase(), ...(clustered ? [l.location] : [])]),
        leases,
      ));
    });
  return network;
}
