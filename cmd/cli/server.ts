import { Command, Option } from "commander";
import type { Event, Operation, Server, ServerPut } from "../../lib/wire/mod.ts";
import { naturalCompare } from "../../lib/util/mod.ts";
import { YAML } from "./yaml.ts";
import { type CliContext, readAll } from "./context.ts";
import { type Format, FORMATS, goShortTime, renderList, sortRowsNaturally, toYaml } from "./format.ts";

import { VERSION } from "../../lib/version.ts";
import { parseCertificate } from "../../lib/tls/mod.ts";
import { editInEditor } from "../../lib/util/editor.ts";

/**
 * The instance forms of `info` and `config` (instance_commands.ts), as lxc has one command for
 * both: each answers true when the arguments were its own and it handled them.
 */
export interface InstanceForms {
  info(arg: string | undefined, o: { showLog?: boolean }): Promise<boolean>;
  config(verb: "get" | "set" | "unset" | "show", args: string[]): Promise<boolean>;
}

const SERVER_ONLY: InstanceForms = {
  info: () => Promise.resolve(false),
  config: () => Promise.resolve(false),
};

/** `info`: the server's configuration and environment (or an instance's). */
export function infoCommand(ctx: CliContext, forms: InstanceForms = SERVER_ONLY): Command {
  return new Command("info").description("Show instance or server information")
    .argument("[remote]", "remote:")
    .option("--target <member>", "Cluster member name")
    .option("--show-log", "Show the instance's last 100 log lines")
    .action(async (arg: string | undefined, o: { target?: string; showLog?: boolean }) => {
      if (await forms.info(arg, o)) return;
      const { remote } = ctx.parseRemote(arg ?? "");
      const c = await ctx.client(remote);
      const q = o.target ? `?target=${encodeURIComponent(o.target)}` : "";
      ctx.print(toYaml(await c.get<Server>(`/1.0${q}`)));
    });
}

/** `version`. */
export function versionCommand(ctx: CliContext): Command {
  return new Command("version").description("Show local and remote versions").argument("[remote]")
    .action(async (arg?: string) => {
      ctx.println(`Client version: ${VERSION}`);
      let server = "unreachable";
      try {
        const { remote } = ctx.parseRemote(arg ?? "");
        const s = await (await ctx.client(remote)).get<Server>("/1.0");
        server = s.environment?.server_version ?? server;
      } catch { /* keep "unreachable", as lxc */ }
      ctx.println(`Server version: ${server}`);
    });
}

function parseKeyValues(args: string[]): [string, string][] {
  if (args.length === 2 && !args[0]!.includes("=")) return [[args[0]!, args[1]!]];
  return args.map((a) => {
    const i = a.indexOf("=");
    if (i < 0) throw new Error(`Invalid key=value configuration: ${a}`);
    return [a.slice(0, i), a.slice(i + 1)];
  });
}

/** Reads "[remote:] key" or "remote:key". */
function remoteAndKey(args: string[]): [string, string] {
  if (args.length === 2) return [args[0]!, args[1]!];
  if (args.length !== 1) throw new Error("Invalid number of arguments");
  const a = args[0]!;
  const i = a.indexOf(":");
  return i > 0 ? [a.slice(0, i + 1), a.slice(i + 1)] : ["", a];
}

async function updateServerConfig(
  ctx: CliContext,
  remote: string,
  target: string | undefined,
  changes: [string, string][],
): Promise<void> {
  const c = await ctx.client(remote);
  const q = target ? `?target=${encodeURIComponent(target)}` : "";
  const r = await c.request<Server>("GET", `/1.0${q}`);
  const config = { ...(r.metadata.config ?? {}) };
  for (const [k, v] of changes) config[k] = v;
  await c.request("PUT", `/1.0${q}`, { body: { config }, headers: r.etag ? { "If-Match": r.etag } : {} });
}

/** `config get|set|unset|show|edit` of the server (or an instance's, through `forms`). */
export function configCommand(ctx: CliContext, forms: InstanceForms = SERVER_ONLY): Command {
  const config = new Command("config").description("Manage instance and server configuration options");
  config.command("get").description("Get values for instance or server configuration keys")
    .argument("<args...>", "[remote:] key")
    .option("--target <member>", "Cluster member name")
    .action(async (args: string[], o: { target?: string }) => {
      if (await forms.config("get", args)) return;
      const [remoteArg, key] = remoteAndKey(args);
      const { remote } = ctx.parseRemote(remoteArg);
      const q = o.target ? `?target=${encodeURIComponent(o.target)}` : "";
      const s = await (await ctx.client(remote)).get<Server>(`/1.0${q}`);
      const v = s.config?.[key];
      ctx.println(v === undefined ? "" : String(v));
    });
  config.command("set").description("Set instance or server configuration keys")
    .argument("<args...>", "[remote:] key value | key=value...")
    .option("--target <member>", "Cluster member name")
    .action(async (args: string[], o: { target?: string }) => {
      if (await forms.config("set", args)) return;
      let remote = ctx.config["default-remote"];
      if (args.length > 0 && args[0]!.endsWith(":") && !args[0]!.includes("=")) {
        remote = ctx.parseRemote(args.shift()!).remote;
      }
      if (args.length === 0) throw new Error("Invalid number of arguments");
      await updateServerConfig(ctx, remote, o.target, parseKeyValues(args));
    });
  config.command("unset").description("Unset instance or server configuration keys")
    .argument("<args...>", "[remote:] key")
    .option("--target <member>", "Cluster member name")
    .action(async (args: string[], o: { target?: string }) => {
      if (await forms.config("unset", args)) return;
      const [remoteArg, key] = remoteAndKey(args);
      await updateServerConfig(ctx, ctx.parseRemote(remoteArg).remote, o.target, [[key, ""]]);
    });
  config.command("show").description("Show instance or server configurations")
    .argument("[remote]")
    .option("--target <member>", "Cluster member name")
    .action(async (a: string | undefined, o: { target?: string }) => {
      if (await forms.config("show", a === undefined ? [] : [a])) return;
      const q = o.target ? `?target=${encodeURIComponent(o.target)}` : "";
      const s = await (await ctx.client(ctx.parseRemote(a ?? "").remote)).get<Server>(`/1.0${q}`);
      ctx.print(toYaml({ config: s.config ?? {} }));
    });
  config.command("edit").description("Edit instance or server configurations as YAML")
    .argument("[remote]")
    .action(async (a: string | undefined) => {
      const c = await ctx.client(ctx.parseRemote(a ?? "").remote);
      const r = await c.request<Server>("GET", "/1.0");
      let text: string;
      if (Deno.stdin.isTerminal()) {
        text = await editInEditor(toYaml({ config: r.metadata.config ?? {} }));
      } else text = await readAll();
      const put = (YAML.parse(text) ?? {}) as ServerPut;
      await c.request("PUT", "/1.0", {
        body: { config: put.config ?? {} },
        headers: r.etag ? { "If-Match": r.etag } : {},
      });
    });
  config.addCommand(trustCommand(ctx));
  return config;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** A date as lxc shows certificate dates: Go's "Jan 2, 2006 at 3:04pm (MST)", in UTC. */
function lxcDate(d: Date): string {
  const h = d.getUTCHours();
  const m = String(d.getUTCMinutes()).padStart(2, "0");
  return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()} at ${h % 12 || 12}:${m}${
    h < 12 ? "am" : "pm"
  } (UTC)`;
}

/** `config trust list|add|remove|list-tokens|revoke-token`. */
function trustCommand(ctx: CliContext): Command {
  const trust = new Command("trust").description("Manage trusted clients");
  trust.command("list").alias("ls").description("List trusted clients").argument("[remote]")
    .addOption(new Option("-f, --format <format>", "Format").choices(FORMATS).default("table"))
    .action(async (a: string | undefined, o: { format: Format }) => {
      const c = await ctx.client(ctx.parseRemote(a ?? "").remote);
      const certs = await c.get<{ name: string; type: string; fingerprint: string; certificate: string }[]>(
        "/1.0/certificates?recursion=1",
      );
      const rows = await Promise.all(certs.map(async (x) => {
        const info = await parseCertificate(x.certificate).catch(() => null);
        return [
          x.type,
          x.name,
          info?.subjectCN ?? "",
          x.fingerprint.slice(0, 12),
          info ? lxcDate(info.notBefore) : "",
          info ? lxcDate(info.notAfter) : "",
        ];
      }));
      sortRowsNaturally(rows);
      ctx.print(
        renderList(
          o.format,
          ["TYPE", "NAME", "COMMON NAME", "FINGERPRINT", "ISSUE DATE", "EXPIRY DATE"],
          rows,
          certs,
        ),
      );
    });
  trust.command("add").description("Add new trusted client").argument("[remote]")
    .option("--name <name>", "Alternative certificate name")
    .action(async (a: string | undefined, o: { name?: string }, cmd: Command) => {
      const quiet = cmd.optsWithGlobals().quiet === true;
      const c = await ctx.client(ctx.parseRemote(a ?? "").remote);
      const name = o.name ?? (await ctx.ask("Please provide client name: ")).trim();
      const r = await c.request<Operation>("POST", "/1.0/certificates", {
        body: { name, type: "client", token: true },
      });
      const m = r.metadata.metadata ?? {};
      const token = {
        client_name: name,
        fingerprint: m.fingerprint,
        addresses: m.addresses,
        secret: m.secret,
        expires_at: m.expiresAt ?? "0001-01-01T00:00:00Z",
      };
      const text = btoa(JSON.stringify(token));
      if (!quiet) ctx.println(`Client ${name} certificate add token:`);
      ctx.println(text);
    });
  trust.command("remove").alias("rm").description("Remove trusted client").argument("<fingerprint>")
    .action(async (arg: string) => {
      const { remote, name } = ctx.parseRemote(arg);
      await (await ctx.client(remote)).request("DELETE", `/1.0/certificates/${encodeURIComponent(name)}`);
    });
  trust.command("list-tokens").description("List all active certificate add tokens").argument("[remote]")
    .addOption(new Option("-f, --format <format>", "Format").choices(FORMATS).default("table"))
    .action(async (a: string | undefined, o: { format: Format }) => {
      const c = await ctx.client(ctx.parseRemote(a ?? "").remote);
      const ops = await c.get<Record<string, Operation[]>>("/1.0/operations?recursion=1");
      const tokens = (ops.running ?? []).filter((op) =>
        op.class === "token" && op.description === "Certificate add token"
      );
      const rows = tokens.map((op) => {
        const m = op.metadata ?? {};
        const req = (m.request ?? {}) as { name?: string };
        const t = btoa(
          JSON.stringify({
            client_name: req.name ?? "",
            fingerprint: m.fingerprint,
            addresses: m.addresses,
            secret: m.secret,
            expires_at: m.expiresAt ?? "0001-01-01T00:00:00Z",
          }),
        );
        // As lxc config trust list-tokens: Go's short time, empty for a token that never expires.
        return [req.name ?? "", t, m.expiresAt ? goShortTime(String(m.expiresAt)) : ""];
      }).sort((x, y) => naturalCompare(x[0]!, y[0]!));
      ctx.print(renderList(o.format, ["NAME", "TOKEN", "EXPIRES AT"], rows, tokens));
    });
  trust.command("revoke-token").description("Revoke certificate add token").argument("<name>")
    .action(async (arg: string) => {
      const { remote, name } = ctx.parseRemote(arg);
      const c = await ctx.client(remote);
      const ops = await c.get<Record<string, Operation[]>>("/1.0/operations?recursion=1");
      const op = (ops.running ?? []).find((x) =>
        x.class === "token" && x.description === "Certificate add token" &&
        ((x.metadata?.request ?? {}) as { name?: string }).name === name
      );
      if (!op) throw new Error(`No certificate add token for member ${name} on remote: ${remote}`);
      await c.request("DELETE", `/1.0/operations/${op.id}`);
    });
  return trust;
}

/** `query [-X METHOD] [-d DATA] PATH`: a raw API call. */
export function queryCommand(ctx: CliContext): Command {
  return new Command("query").description("Send a raw query to LXD")
    .argument("<path>", "[remote:]<API path>")
    .option("-X, --request <method>", "Action (defaults to GET)", "GET")
    .option("-d, --data <data>", "Input data")
    .option("--wait", "Wait for the operation to complete")
    .option("--raw", "Print the raw response")
    .action(async (arg: string, o: { request: string; data?: string; wait?: boolean; raw?: boolean }) => {
      const { remote, name: path } = ctx.parseRemote(arg);
      if (!path.startsWith("/")) throw new Error("Query path must start with /");
      const c = await ctx.client(remote);
      const { envelope, status } = await c.raw(o.request.toUpperCase(), path, { body: o.data });
      if (o.raw) return ctx.println(JSON.stringify(envelope, null, 4));
      if (envelope.type === "error") throw new Error(`${envelope.error}`);
      if (o.wait && envelope.type === "async") {
        const op = await c.waitOperation(envelope.operation);
        if (op.status_code !== 200) throw new Error(op.err);
        return ctx.println(JSON.stringify(op.metadata, null, 4));
      }
      if (status >= 400) throw new Error(envelope.error);
      if (envelope.metadata !== null && envelope.metadata !== undefined) {
        ctx.println(JSON.stringify(envelope.metadata, null, 4));
      }
    });
}

function opRows(
  ops: Record<string, Operation[]>,
  clustered: boolean,
): { rows: string[][]; raw: Operation[] } {
  const all = Object.values(ops).flat();
  const rows = all.map((op) => {
    // lxc prints Go's "2006/01/02 15:04 UTC" of the UTC time.
    const r = [
      op.id,
      op.class.toUpperCase(),
      op.description,
      op.status.toUpperCase(),
      op.may_cancel ? "YES" : "NO",
      op.created_at.replace(/^(\d+)-(\d+)-(\d+)T(\d+:\d+).*$/, "$1/$2/$3 $4 UTC"),
    ];
    if (clustered) r.push(op.location);
    return r;
  });
  return { rows: sortRowsNaturally(rows), raw: all };
}

/** `operation list|show|delete`. */
export function operationCommand(ctx: CliContext): Command {
  const op = new Command("operation").description("List, show and delete background operations");
  op.command("list").alias("ls").description("List background operations").argument("[remote]")
    .addOption(new Option("-f, --format <format>", "Format").choices(FORMATS).default("table"))
    .option("--all-projects", "List operations from all projects")
    .action(async (a: string | undefined, o: { format: Format; allProjects?: boolean }) => {
      const c = await ctx.client(ctx.parseRemote(a ?? "").remote);
      const ops = await c.get<Record<string, Operation[]>>(
        `/1.0/operations?recursion=1${o.allProjects ? "&all-projects=true" : ""}`,
      );
      const srv = await c.get<Server>("/1.0");
      const clustered = srv.environment?.server_clustered ?? false;
      const { rows, raw } = opRows(ops, clustered);
      const header = ["ID", "TYPE", "DESCRIPTION", "STATUS", "CANCELABLE", "CREATED"];
      if (clustered) header.push("LOCATION");
      ctx.print(renderList(o.format, header, rows, raw));
    });
  op.command("show").description("Show details on a background operation").argument("<operation>")
    .action(async (arg: string) => {
      const { remote, name } = ctx.parseRemote(arg);
      ctx.print(
        toYaml(
          await (await ctx.client(remote)).get<Operation>(`/1.0/operations/${encodeURIComponent(name)}`),
        ),
      );
    });
  op.command("delete").alias("rm").alias("cancel").description(
    "Delete a background operation (will attempt to cancel)",
  )
    .argument("<operation>")
    .action(async (arg: string) => {
      const { remote, name } = ctx.parseRemote(arg);
      await (await ctx.client(remote)).request("DELETE", `/1.0/operations/${encodeURIComponent(name)}`);
    });
  return op;
}

/** How `monitor --format pretty` shows one event: logging records as log lines, others in one line. */
function prettyEvent(e: Event): string {
  const m = (e.metadata ?? {}) as Record<string, unknown>;
  const when = e.timestamp.replace("T", " ").replace(/\.\d+Z?$/, "");
  if (e.type === "logging") {
    const ctx = Object.entries((m.context ?? {}) as Record<string, string>).map(([k, v]) => ` ${k}=${v}`)
      .join("");
    return `${String(m.level ?? "").toUpperCase().padEnd(5)} [${when}] ${m.message}${ctx}\n`;
  }
  if (e.type === "lifecycle") return `LIFECYCLE [${when}] ${m.action} ${m.source}\n`;
  return `${e.type.toUpperCase()} [${when}] ${m.description ?? ""} ${m.status ?? ""}`.trimEnd() + "\n";
}

const LOG_LEVELS = ["debug", "info", "warn", "error"];

/** `monitor [--type T] [--format yaml|json|pretty]`: the event stream, until interrupted. */
export function monitorCommand(ctx: CliContext): Command {
  return new Command("monitor").description("Monitor a local or remote LXD server").argument("[remote]")
    .option("--type <type...>", "Event type to listen for")
    .addOption(
      new Option("-f, --format <format>", "Format").choices(["json", "pretty", "yaml"]).default("yaml"),
    )
    .option("--pretty", "Pretty rendering (short for --format=pretty)")
    .addOption(
      new Option("--loglevel <level>", "Minimum level for log messages (only with the pretty format)")
        .choices(LOG_LEVELS),
    )
    .option("--all-projects", "Show events from all projects")
    .action(
      async (
        a: string | undefined,
        o: { type?: string[]; format: string; pretty?: boolean; loglevel?: string; allProjects?: boolean },
      ) => {
        const format = o.pretty ? "pretty" : o.format;
        if (o.loglevel && format !== "pretty") {
          throw new Error("Log level filtering can only be used with pretty formatting");
        }
        const c = await ctx.client(ctx.parseRemote(a ?? "").remote);
        const types = (o.type ?? []).flatMap((t) => t.split(",")) as Event["type"][];
        const minLevel = LOG_LEVELS.indexOf(o.loglevel ?? "debug");
        const done = Promise.withResolvers<void>();
        const stream = await c.events(types, (e) => {
          if (format === "json") return ctx.println(JSON.stringify(e));
          if (format === "yaml") return ctx.print(toYaml(e) + "\n\n");
          if (e.type === "logging") {
            const level = LOG_LEVELS.indexOf(String((e.metadata as { level?: string }).level ?? "debug"));
            if (level < minLevel) return;
          }
          ctx.print(prettyEvent(e));
        }, { allProjects: o.allProjects });
        await stream.ready;
        const stop = () => {
          stream.close();
          done.resolve();
        };
        Deno.addSignalListener("SIGINT", stop);
        Deno.addSignalListener("SIGTERM", stop);
        await done.promise;
      },
    );
}
