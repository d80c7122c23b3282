import { Command, Option } from "commander";
import type { InstanceJSON, InstanceStateJSON, Operation, Server } from "../../lib/wire/mod.ts";
import { StatusError } from "../../lib/util/mod.ts";
import type { CliContext } from "./context.ts";
import { drawTable, type Format, FORMATS, goShortTime, renderList, toYaml } from "./format.ts";
import { byteSize, imageFingerprint, waitOp } from "./image.ts";
import { keyValues, setArgs } from "./storage.ts";
import { checkRaw, type Client, requestBytes } from "../../lib/client/mod.ts";

/** An instance with state (GET /1.0/instances?recursion=2). */
export type InstanceFull = InstanceJSON & { state: InstanceStateJSON | null; snapshots: unknown[] | null };

const path = (name: string) => `/1.0/instances/${encodeURIComponent(name)}`;

/** Runs a state change and waits for it. */
async function changeState(
  c: Client,
  name: string,
  action: string,
  o: { force?: boolean; timeout?: number } = {},
): Promise<Operation | null> {
  const r = await c.request("PUT", `${path(name)}/state`, {
    body: { action, timeout: o.timeout ?? -1, force: o.force ?? false, stateful: false },
  });
  return await waitOp(c, r.operation);
}

async function createInstance(
  ctx: CliContext,
  image: string | undefined,
  target: string | undefined,
  o: {
    config?: string[];
    profile?: string[];
    empty?: boolean;
    ephemeral?: boolean;
    storage?: string;
    quiet?: boolean;
    target?: string;
  },
): Promise<{ c: Client; name: string }> {
  if (o.empty && target) throw new Error("--empty cannot be combined with an image name");
  const instArg = o.empty ? (image ?? "") : (target ?? "");
  const p = ctx.parseRemote(instArg);
  const c = await ctx.client(p.remote);
  const body: Record<string, unknown> = {
    name: p.name,
    type: "container",
    config: keyValues(o.config ?? []),
    profiles: o.profile ?? null,
    ephemeral: o.ephemeral ?? false,
    devices: o.storage ? { root: { type: "disk", path: "/", pool: o.storage } } : {},
    source: { type: "none" },
  };
  if (!o.empty) {
    if (!image) throw new Error("Missing image name: shoal launch IMAGE NAME (or --empty)");
    const ip = ctx.parseRemote(image);
    const fp = await imageFingerprint(await ctx.client(ip.remote), ip.name).catch((e) => {
      if (e instanceof StatusError && e.status === 404) throw new Error("Image not found");
      throw e;
    });
    body.source = { type: "image", fingerprint: fp };
  }
  if (!p.name) throw new Error("Missing instance name");
  if (!o.quiet) ctx.println(`Creating ${p.name}`);
  // --target MEMBER creates it there, --target @GROUP on a member of that group.
  const q = o.target ? `?target=${encodeURIComponent(o.target)}` : "";
  const r = await c.request("POST", `/1.0/instances${q}`, { body });
  await waitOp(c, r.operation);
  return { c, name: p.name };
}

/** The columns of `list`, by lxc's letters. */
const COLUMNS: Record<string, { header: string; data: (i: InstanceFull) => string }> = {
  n: { header: "NAME", data: (i) => i.name },
  s: { header: "STATE", data: (i) => i.status.toUpperCase() },
  "4": { header: "IPV4", data: (i) => addresses(i, "inet") },
  "6": { header: "IPV6", data: (i) => addresses(i, "inet6") },
  t: {
    header: "TYPE",
    data: (i) => (i.ephemeral ? `${i.type.toUpperCase()} (EPHEMERAL)` : i.type.toUpperCase()),
  },
  S: { header: "SNAPSHOTS", data: (i) => String(i.snapshots?.length ?? 0) },
  L: { header: "LOCATION", data: (i) => i.location },
  a: { header: "ARCHITECTURE", data: (i) => i.architecture },
  c: { header: "CREATED AT", data: (i) => i.created_at },
  l: { header: "LAST USED AT", data: (i) => i.last_used_at },
  d: { header: "DESCRIPTION", data: (i) => i.description },
  p: { header: "PID", data: (i) => (i.state && i.state.pid > 0 ? String(i.state.pid) : "") },
  P: { header: "PROFILES", data: (i) => i.profiles.join("\n") },
  f: { header: "BASE IMAGE", data: (i) => (i.config["volatile.base_image"] ?? "").slice(0, 12) },
};

function addresses(i: InstanceFull, family: string): string {
  const out: string[] = [];
  for (const [dev, n] of Object.entries(i.state?.network ?? {})) {
    if (dev === "lo") continue;
    for (const a of n.addresses) {
      if (a.family === family && a.scope === "global") out.push(`${a.address} (${dev})`);
    }
  }
  return out.join("\n");
}

/** lxc's list filters: a bare word matches the name's start; key=value a field or config key. */
export function listFilter(filters: string[]): (i: InstanceFull) => boolean {
  return (i) =>
    filters.every((f) => {
      const eq = f.indexOf("=");
      if (eq < 0) return new RegExp(`^${f}`).test(i.name);
      const k = f.slice(0, eq).toLowerCase();
      const v = f.slice(eq + 1);
      const fields: Record<string, string> = {
        name: i.name,
        status: i.status,
        state: i.status,
        type: i.type,
        location: i.location,
        architecture: i.architecture,
        description: i.description,
      };
      if (k in fields) return fields[k]!.toLowerCase() === v.toLowerCase();
      const key = f.slice(0, eq);
      return (i.expanded_config[key] ?? i.config[key]) === v;
    });
}

/** `init`, `launch`, `start`, `stop`, `restart`, `delete`, `list`, `console`. */
export function instanceCommands(ctx: CliContext): Command[] {
  const createOpts = (cmd: Command) =>
    cmd.argument("[image]", "[remote:]image").argument("[instance]", "[remote:]instance")
      .option("-c, --config <key=value...>", "Config key/value to apply to the new instance")
      .option("-p, --profile <profile...>", "Profile to apply to the new instance")
      .option("-e, --ephemeral", "Ephemeral instance")
      .option("-s, --storage <pool>", "Storage pool name")
      .option("--empty", "Create an empty instance")
      .option("--target <member>", "Cluster member name (@GROUP: a member of that cluster group)");
  const init = createOpts(new Command("init").description("Create instances from images"))
    .action(async (image: string | undefined, target: string | undefined, _o, cmd: Command) => {
      await createInstance(ctx, image, target, cmd.optsWithGlobals());
    });
  const launch = createOpts(new Command("launch").description("Create and start instances from images"))
    .action(async (image: string | undefined, target: string | undefined, _o, cmd: Command) => {
      const o = cmd.optsWithGlobals();
      const { c, name } = await createInstance(ctx, image, target, o);
      if (!o.quiet) ctx.println(`Starting ${name}`);
      await changeState(c, name, "start");
    });

  const simple = (verb: string, action: string, desc: string, withForce: boolean) => {
    const cmd = new Command(verb).description(desc).argument("<instances...>", "[remote:]instance");
    if (withForce) {
      cmd.option("-f, --force", "Force the instance to stop")
        .option("--timeout <seconds>", "Time to wait for the instance to shutdown cleanly", "-1");
    }
    return cmd.action(async (names: string[], o: { force?: boolean; timeout?: string }) => {
      for (const n of names) {
        const p = ctx.parseRemote(n);
        await changeState(await ctx.client(p.remote), p.name, action, {
          force: o.force,
          timeout: Number(o.timeout ?? "-1"),
        });
      }
    });
  };

  const del = new Command("delete").alias("rm").description("Delete instances")
    .argument("<instances...>", "[remote:]instance")
    .option("-f, --force", "Force the removal of running instances")
    .action(async (names: string[], o: { force?: boolean }) => {
      for (const n of names) {
        const p = ctx.parseRemote(n);
        const c = await ctx.client(p.remote);
        if (p.name.includes("/")) {
          // INSTANCE/SNAPSHOT: a snapshot, as lxc delete takes it.
          const [inst, snap] = [p.name.slice(0, p.name.indexOf("/")), p.name.slice(p.name.indexOf("/") + 1)];
          const r = await c.request("DELETE", `${path(inst)}/snapshots/${encodeURIComponent(snap)}`);
          await waitOp(c, r.operation);
          continue;
        }
        const st = await c.get<{ status: string }>(`${path(p.name)}/state`);
        if (st.status !== "Stopped") {
          if (!o.force) throw new Error("The instance is currently running, stop it first or pass --force");
          await changeState(c, p.name, "stop", { force: true });
        }
        const r = await c.request("DELETE", path(p.name));
        await waitOp(c, r.operation);
      }
    });

  const list = new Command("list").alias("ls").description("List instances")
    .argument("[filters...]", "[remote:] [filter...]")
    .addOption(new Option("-f, --format <format>", "Format").choices([...FORMATS]).default("table"))
    .option("-c, --columns <columns>", "Columns (lxc's letters: n s 4 6 t S L a c l d p P f)")
    .action(async (args: string[], o: { format: Format; columns?: string }) => {
      let remote = ctx.config["default-remote"];
      if (args[0]?.endsWith(":")) remote = ctx.parseRemote(args.shift()!).remote;
      const c = await ctx.client(remote);
      const server = await c.get<Server>("/1.0");
      const cols = o.columns ?? (server.environment?.server_clustered ? "ns46tSL" : "ns46tS");
      for (const ch of cols.replaceAll(",", "")) {
        if (!(ch in COLUMNS)) throw new Error(`Invalid column type (%s): "${ch}"`);
      }
      const all = (await c.get<InstanceFull[]>("/1.0/instances?recursion=2")).filter(listFilter(args));
      const chosen = [...cols.replaceAll(",", "")].map((ch) => COLUMNS[ch]!);
      ctx.print(
        renderList(
          o.format,
          chosen.map((x) => x.header),
          all.map((i) => chosen.map((x) => x.data(i))),
          all,
        ),
      );
    });

  const consoleCmd = new Command("console").description("Attach to instance consoles")
    .argument("<instance>", "[remote:]instance")
    .option("--show-log", "Retrieve the instance's console log")
    .action(async (name: string, o: { showLog?: boolean }) => {
      if (!o.showLog) {
        throw new Error("Only --show-log is supported: use `shoal exec NAME -- sh` for a shell");
      }
      const p = ctx.parseRemote(name);
      const r = checkRaw(
        await requestBytes(await ctx.client(p.remote), "GET", `${path(p.name)}/console`, null),
      );
      ctx.print("\n");
      ctx.print(new TextDecoder().decode(r.body));
    });

  return [
    init,
    launch,
    simple("start", "start", "Start instances", false),
    simple("stop", "stop", "Stop instances", true),
    simple("restart", "restart", "Restart instances", true),
    simple("pause", "freeze", "Pause instances", false),
    del,
    list,
    consoleCmd,
  ];
}

/** `info NAME [--show-log]` as lxc prints it. */
export async function instanceInfo(ctx: CliContext, arg: string, showLog: boolean): Promise<void> {
  const p = ctx.parseRemote(arg);
  const c = await ctx.client(p.remote);
  const i = await c.get<InstanceFull>(`${path(p.name)}?recursion=1`);
  const lines = [
    `Name: ${i.name}`,
    `Status: ${i.status.toUpperCase()}`,
    `Type: ${i.type}${i.ephemeral ? " (ephemeral)" : ""}`,
    `Architecture: ${i.architecture}`,
  ];
  if (i.location && i.location !== "none") lines.push(`Location: ${i.location}`);
  if (i.state && i.state.pid > 0) lines.push(`PID: ${i.state.pid}`);
  lines.push(`Created: ${i.created_at}`);
  lines.push(`Last Used: ${i.last_used_at}`);
  if (i.state && i.status === "Running") {
    lines.push("", "Resources:", `  Processes: ${i.state.processes}`);
    if (i.state.memory.usage > 0) {
      lines.push("  Memory usage:", `    Memory (current): ${byteSize(i.state.memory.usage)}`);
    }
  }
  const snaps = (i.snapshots ?? []) as {
    name: string;
    created_at: string;
    expires_at: string;
    stateful: boolean;
  }[];
  if (snaps.length > 0) {
    const set = (t: string) => t && !t.startsWith("0001-01-01") ? goShortTime(t) : " ";
    lines.push(
      "",
      "Snapshots:",
      drawTable(
        ["NAME", "TAKEN AT", "EXPIRES AT", "STATEFUL"],
        snaps.map((
          s,
        ) => [s.name.split("/").pop()!, set(s.created_at), set(s.expires_at), s.stateful ? "YES" : "NO"]),
      ).trimEnd(),
    );
  }
  ctx.println(lines.join("\n"));
  if (showLog) {
    const r = checkRaw(
      await requestBytes(c, "GET", `${path(p.name)}/logs/lxc.log`, null).catch(() => ({
        status: 200,
        headers: new Headers(),
        body: new Uint8Array(),
      })),
    );
    ctx.println("\nLog:\n");
    ctx.print(new TextDecoder().decode(r.body));
  }
}

/** `config get|set|unset|show NAME …` of an instance. */
export async function instanceConfig(
  ctx: CliContext,
  verb: "get" | "set" | "unset" | "show",
  arg: string,
  rest: string[],
): Promise<void> {
  const p = ctx.parseRemote(arg);
  const c = await ctx.client(p.remote);
  const r = await c.request<InstanceFull>("GET", path(p.name));
  const i = r.metadata;
  if (verb === "get") {
    ctx.println(i.config[rest[0]!] ?? "");
    return;
  }
  if (verb === "show") {
    const { state: _s, snapshots: _n, status: _st, ...shown } = i as InstanceFull & { status_code?: number };
    delete (shown as Record<string, unknown>).status_code;
    ctx.print(toYaml(shown));
    return;
  }
  const config = { ...i.config };
  if (verb === "set") {
    const kv = setArgs(rest);
    Object.assign(config, kv);
  } else {
    if (!(rest[0]! in config)) throw new Error(`Can't unset key '${rest[0]}', it's not currently set`);
    delete config[rest[0]!];
  }
  const put = await c.request("PUT", path(p.name), {
    body: { ...i, config },
    headers: r.etag ? { "If-Match": r.etag } : {},
  });
  await waitOp(c, put.operation);
}
