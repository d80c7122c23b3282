import { Command, Option } from "commander";
import { YAML } from "./yaml.ts";
import type { Client } from "../../lib/client/mod.ts";
import type { ClusterGroup, ClusterMember } from "../../lib/wire/mod.ts";
import { naturalCompare } from "../../lib/util/mod.ts";
import { type CliContext, readAll } from "./context.ts";
import { type Format, FORMATS, renderList, toYaml } from "./format.ts";

const groupPath = (name: string) => `/1.0/cluster/groups/${encodeURIComponent(name)}`;
const memberPath = (name: string) => `/1.0/cluster/members/${encodeURIComponent(name)}`;

/** Reads a member, lets change compute its groups (or refuse), and writes the member back. */
async function editGroups(c: Client, member: string, change: (groups: string[]) => string[]): Promise<void> {
  const r = await c.request<ClusterMember>("GET", memberPath(member));
  const m = r.metadata;
  await c.request("PUT", memberPath(member), {
    body: {
      roles: m.roles,
      failure_domain: m.failure_domain,
      description: m.description,
      config: m.config,
      groups: change(m.groups ?? []),
    },
    headers: r.etag ? { "If-Match": r.etag } : {},
  });
}

/** `cluster group create|list|show|edit|rename|delete|assign|add|remove`, as lxc 5.0's. */
export function addClusterGroupCommands(cl: Command, ctx: CliContext): void {
  const g = cl.command("group").description("Manage cluster groups");
  const quiet = (cmd: Command) => cmd.optsWithGlobals().quiet === true;

  g.command("create").description("Create a cluster group").argument("<group>", "[<remote>:]<group>")
    .action(async (arg: string, _o: unknown, cmd: Command) => {
      const { remote, name } = ctx.parseRemote(arg);
      await (await ctx.client(remote)).request("POST", "/1.0/cluster/groups", { body: { name } });
      if (!quiet(cmd)) ctx.println(`Cluster group ${name} created`);
    });

  g.command("list").alias("ls").description("List all the cluster groups").argument("[remote]")
    .addOption(new Option("-f, --format <format>", "Format").choices(FORMATS).default("table"))
    .action(async (a: string | undefined, o: { format: Format }) => {
      const c = await ctx.client(ctx.parseRemote(a ?? "").remote);
      const groups = await c.get<ClusterGroup[]>("/1.0/cluster/groups?recursion=1");
      groups.sort((x, y) => naturalCompare(x.name, y.name));
      const rows = groups.map((x) => [x.name, x.description, String(x.members.length)]);
      ctx.print(renderList(o.format, ["NAME", "DESCRIPTION", "MEMBERS"], rows, groups));
    });

  g.command("show").description("Show cluster group configurations").argument("<group>", "[<remote>:]<group>")
    .action(async (arg: string) => {
      const { remote, name } = ctx.parseRemote(arg);
      ctx.print(toYaml(await (await ctx.client(remote)).get<ClusterGroup>(groupPath(name))));
    });

  g.command("edit").description("Edit a cluster group (YAML on stdin)").argument(
    "<group>",
    "[<remote>:]<group>",
  )
    .action(async (arg: string) => {
      const { remote, name } = ctx.parseRemote(arg);
      const doc = YAML.parse(await readAll()) ?? {};
      if (typeof doc !== "object" || Array.isArray(doc)) {
        throw new Error("Expected a YAML document of the group");
      }
      await (await ctx.client(remote)).request("PUT", groupPath(name), {
        body: { description: doc.description ?? "", members: doc.members ?? [] },
      });
    });

  g.command("rename").description("Rename a cluster group").argument("<group>", "[<remote>:]<group>")
    .argument("<new-name>")
    .action(async (arg: string, newName: string, _o: unknown, cmd: Command) => {
      const { remote, name } = ctx.parseRemote(arg);
      await (await ctx.client(remote)).request("POST", groupPath(name), { body: { name: newName } });
      if (!quiet(cmd)) ctx.println(`Cluster group ${name} renamed to ${newName}`);
    });

  g.command("delete").alias("rm").description("Delete a cluster group").argument(
    "<group>",
    "[<remote>:]<group>",
  )
    .action(async (arg: string, _o: unknown, cmd: Command) => {
      const { remote, name } = ctx.parseRemote(arg);
      await (await ctx.client(remote)).request("DELETE", groupPath(name));
      if (!quiet(cmd)) ctx.println(`Cluster group ${name} deleted`);
    });

  g.command("assign").description("Assign sets of groups to cluster members")
    .argument("<member>", "[<remote>:]<member>").argument("<groups>", "group[,group...]")
    .action(async (arg: string, groups: string, _o: unknown, cmd: Command) => {
      const { remote, name } = ctx.parseRemote(arg);
      await editGroups(await ctx.client(remote), name, () => groups.split(",").filter((x) => x !== ""));
      if (!quiet(cmd)) ctx.println(`Cluster member ${name} added to cluster groups ${groups}`);
    });

  g.command("add").description("Add member to group").argument("<member>", "[<remote>:]<member>")
    .argument("<group>")
    .action(async (arg: string, group: string, _o: unknown, cmd: Command) => {
      const { remote, name } = ctx.parseRemote(arg);
      await editGroups(await ctx.client(remote), name, (have) => {
        if (have.includes(group)) throw new Error(`Cluster member ${name} is already in group ${group}`);
        return [...have, group];
      });
      if (!quiet(cmd)) ctx.println(`Cluster member ${name} added to group ${group}`);
    });

  g.command("remove").description("Remove member from group").argument("<member>", "[<remote>:]<member>")
    .argument("<group>")
    .action(async (arg: string, group: string, _o: unknown, cmd: Command) => {
      const { remote, name } = ctx.parseRemote(arg);
      await editGroups(await ctx.client(remote), name, (have) => {
        if (!have.includes(group)) throw new Error(`Cluster group ${group} doesn't have ${name}`);
        if (have.length === 1) {
          throw new Error(`Cluster member ${name} must be in at least one group: add it to another first`);
        }
        return have.filter((x) => x !== group);
      });
      if (!quiet(cmd)) ctx.println(`Cluster member ${name} removed from group ${group}`);
    });
}
