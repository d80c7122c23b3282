import { Command } from "commander";
import { YAML } from "./yaml.ts";
import type { ClusterMember, ClusterMemberPut } from "../../lib/wire/mod.ts";
import type { Client } from "../../lib/client/mod.ts";
import { type CliContext, readAll } from "./context.ts";
import { toYaml } from "./format.ts";
import { editInEditor } from "../../lib/util/editor.ts";

/** LXD's ClusterMemberPut with every field present, as lxc writes it back. */
type MemberPut = { [K in keyof ClusterMemberPut]-?: NonNullable<ClusterMemberPut[K]> };

function writable(m: ClusterMember): MemberPut {
  return {
    roles: m.roles ?? [],
    failure_domain: m.failure_domain ?? "",
    description: m.description ?? "",
    config: m.config ?? {},
    groups: m.groups ?? [],
  };
}

function memberPath(name: string): string {
  return `/1.0/cluster/members/${encodeURIComponent(name)}`;
}

/** The member and its ETag, so that an update made meanwhile by someone else is refused (412). */
async function getMember(c: Client, name: string): Promise<{ member: ClusterMember; etag?: string }> {
  if (name === "") throw new Error("Missing cluster member name");
  const r = await c.request<ClusterMember>("GET", memberPath(name));
  return { member: r.metadata, etag: r.etag };
}

async function putMember(c: Client, name: string, put: MemberPut, etag?: string): Promise<void> {
  await c.request("PUT", memberPath(name), { body: put, headers: etag ? { "If-Match": etag } : {} });
}

/** The YAML as lxc reads it into ClusterMemberPut: absent fields are empty. */
function parsePut(text: string): MemberPut {
  let y: Partial<MemberPut> | null;
  try {
    y = YAML.parse(text) as Partial<MemberPut> | null;
  } catch (e) {
    throw new Error(`yaml: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`);
  }
  if (y !== null && (typeof y !== "object" || Array.isArray(y))) {
    throw new Error("yaml: cannot unmarshal the document into a cluster member");
  }
  const str = (v: unknown) => typeof v === "string" ? v : v === undefined || v === null ? "" : String(v);
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(y?.config ?? {})) config[k] = str(v);
  return {
    roles: (y?.roles ?? []).map(str),
    failure_domain: str(y?.failure_domain),
    description: str(y?.description),
    config,
    groups: (y?.groups ?? []).map(str),
  };
}

const EDIT_HELP = `### This is a yaml representation of the cluster member.
### Any line starting with a '# will be ignored.`;

/** "k=v" pairs, or one "k v" pair, as lxc's getConfig reads them. */
function keyValues(args: string[]): [string, string][] {
  if (args.length === 2 && !args[0]!.includes("=")) return [[args[0]!, args[1]!]];
  return args.map((a) => {
    const i = a.indexOf("=");
    if (i < 0) throw new Error(`Invalid key=value configuration: ${a}`);
    return [a.slice(0, i), a.slice(i + 1)];
  });
}

function splitRoles(arg: string): string[] {
  return arg.split(",").map((r) => r.trim()).filter((r) => r !== "");
}

/** Adds `rename|edit|get|set|unset|role add|remove` to the `cluster` command, as in lxc 5.0. */
export function addClusterMemberCommands(cl: Command, ctx: CliContext): void {
  cl.command("rename").alias("mv").description("Rename a cluster member")
    .argument("<member>", "[<remote>:]<member>").argument("<new-name>")
    .action(async (arg: string, newName: string, _o: unknown, cmd: Command) => {
      const { remote, name } = ctx.parseRemote(arg);
      const c = await ctx.client(remote);
      await c.request("POST", memberPath(name), { body: { server_name: newName } });
      if (!cmd.optsWithGlobals().quiet) ctx.println(`Member ${name} renamed to ${newName}`);
    });

  cl.command("edit").description("Edit cluster member configurations as YAML")
    .argument("<member>", "[<remote>:]<cluster member>")
    .action(async (arg: string) => {
      const { remote, name } = ctx.parseRemote(arg);
      if (name === "") throw new Error("Missing cluster member name");
      const c = await ctx.client(remote);
      // As lxc: from stdin the document replaces the member whatever changed meanwhile.
      if (!Deno.stdin.isTerminal()) return await putMember(c, name, parsePut(await readAll()));
      const { member, etag } = await getMember(c, name);
      let text = await editInEditor(`${EDIT_HELP}\n\n${toYaml(writable(member))}`);
      for (;;) {
        try {
          await putMember(c, name, parsePut(text), etag);
          return;
        } catch (e) {
          console.error(`Config parsing error: ${e instanceof Error ? e.message : String(e)}`);
          ctx.println("Press enter to open the editor again or ctrl+c to abort change");
          // No one left to press enter (end of input): give up with the error, as lxc does.
          if (await Deno.stdin.read(new Uint8Array(1)) === null) throw e;
          text = await editInEditor(text);
        }
      }
    });

  cl.command("get").description("Get values for cluster member configuration keys")
    .argument("<member>", "[<remote>:]<member>").argument("<key>")
    .action(async (arg: string, key: string) => {
      const { remote, name } = ctx.parseRemote(arg);
      const { member } = await getMember(await ctx.client(remote), name);
      const v = member.config?.[key];
      if (v === undefined) throw new Error(`The key "${key}" does not exist on cluster member "${name}"`);
      ctx.println(v);
    });

  const set = async (arg: string, pairs: [string, string][]) => {
    const { remote, name } = ctx.parseRemote(arg);
    const c = await ctx.client(remote);
    const { member, etag } = await getMember(c, name);
    const put = writable(member);
    put.config = { ...put.config };
    for (const [k, v] of pairs) put.config[k] = v;
    await putMember(c, name, put, etag);
  };
  cl.command("set").description("Set a cluster member's configuration keys")
    .argument("<member>", "[<remote>:]<member>").argument("<key=value...>")
    .action((arg: string, kv: string[]) => set(arg, keyValues(kv)));
  cl.command("unset").description("Unset a cluster member's configuration keys")
    .argument("<member>", "[<remote>:]<member>").argument("<key>")
    .action((arg: string, key: string) => set(arg, [[key, ""]]));

  /** Reads the member, lets `change` compute its new roles (or refuse), and writes them back. */
  const editRoles = async (
    arg: string,
    roles: string,
    change: (have: string[], asked: string[], name: string) => string[],
  ) => {
    const { remote, name } = ctx.parseRemote(arg);
    const c = await ctx.client(remote);
    const { member, etag } = await getMember(c, name);
    const put = writable(member);
    put.roles = change(put.roles, splitRoles(roles), name);
    await putMember(c, name, put, etag);
  };
  const role = cl.command("role").description("Manage cluster roles");
  role.command("add").description("Add roles to a cluster member")
    .argument("<member>", "[<remote>:]<member>").argument("<roles>", "role[,role...]")
    .action((arg: string, roles: string) =>
      editRoles(arg, roles, (have, add, name) => {
        for (const r of add) {
          if (have.includes(r)) throw new Error(`Member "${name}" already has role "${r}"`);
        }
        return [...have, ...add];
      })
    );
  role.command("remove").description("Remove roles from a cluster member")
    .argument("<member>", "[<remote>:]<member>").argument("<roles>", "role[,role...]")
    .action((arg: string, roles: string) =>
      editRoles(arg, roles, (have, drop, name) => {
        for (const r of drop) {
          if (!have.includes(r)) throw new Error(`Member "${name}" does not have role "${r}"`);
        }
        return have.filter((r) => !drop.includes(r));
      })
    );
}
