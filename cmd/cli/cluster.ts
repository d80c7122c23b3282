import { Command, Option } from "commander";
import type { ClusterInfo, ClusterMember } from "../../lib/wire/mod.ts";
import { naturalCompare } from "../../lib/util/mod.ts";
import { encodeToken } from "../../lib/wire/tokens.ts";
import type { Operation } from "../../lib/wire/mod.ts";
import type { CliContext } from "./context.ts";
import { writeServerCert } from "./config_file.ts";
import { addClusterMemberCommands } from "./cluster_members.ts";
import { addClusterGroupCommands } from "./cluster_groups.ts";
import { addClusterDoctorCommand } from "./cluster_doctor.ts";
import { addClusterEvacuateCommands } from "./cluster_evacuate.ts";
import { type Format, FORMATS, goShortTime, renderList, toYaml } from "./format.ts";

async function clusteredClient(ctx: CliContext, remote: string) {
  const c = await ctx.client(remote);
  const info = await c.get<ClusterInfo>("/1.0/cluster");
  if (!info.enabled) throw new Error("LXD server is not part of a cluster");
  return c;
}

function tokenOf(meta: Record<string, unknown>): string {
  return encodeToken({
    server_name: String(meta.serverName),
    fingerprint: String(meta.fingerprint),
    addresses: meta.addresses as string[],
    secret: String(meta.secret),
    expires_at: String(meta.expiresAt),
  });
}

async function joinTokens(ctx: CliContext, remote: string): Promise<Operation[]> {
  const c = await clusteredClient(ctx, remote);
  const ops = await c.get<Record<string, Operation[]>>("/1.0/operations?recursion=1");
  return Object.values(ops).flat().filter((op) =>
    op.class === "token" && op.status_code === 103 && op.description === "Cluster join token"
  );
}

/** `cluster list|show|add|list-tokens|revoke-token|remove|enable`. */
export function clusterCommand(ctx: CliContext): Command {
  const cl = new Command("cluster").description("Manage cluster members");

  cl.command("list").alias("ls").description("List all the cluster members").argument("[remote]")
    .addOption(new Option("-f, --format <format>", "Format").choices(FORMATS).default("table"))
    .action(async (a: string | undefined, o: { format: Format }) => {
      const c = await clusteredClient(ctx, ctx.parseRemote(a ?? "").remote);
      const members = await c.get<ClusterMember[]>("/1.0/cluster/members?recursion=1");
      members.sort((x, y) => naturalCompare(x.server_name, y.server_name));
      const sep = o.format === "csv" ? "," : "\n";
      const rows = members.map((m) => [
        m.server_name,
        m.url,
        m.roles.join(sep),
        m.architecture,
        m.failure_domain,
        m.description,
        m.status.toUpperCase(),
        m.message,
      ]);
      const header = [
        "NAME",
        "URL",
        "ROLES",
        "ARCHITECTURE",
        "FAILURE DOMAIN",
        "DESCRIPTION",
        "STATE",
        "MESSAGE",
      ];
      ctx.print(renderList(o.format, header, rows, members));
    });

  cl.command("show").description("Show details of a cluster member").argument("<member>")
    .action(async (arg: string) => {
      const { remote, name } = ctx.parseRemote(arg);
      const c = await clusteredClient(ctx, remote);
      ctx.print(toYaml(await c.get<ClusterMember>(`/1.0/cluster/members/${encodeURIComponent(name)}`)));
    });

  cl.command("add").description("Request a join token for adding a cluster member").argument("<name>")
    .action(async (arg: string, _o: unknown, cmd: Command) => {
      const { remote, name } = ctx.parseRemote(arg);
      const c = await clusteredClient(ctx, remote);
      const r = await c.request<Operation>("POST", "/1.0/cluster/members", { body: { server_name: name } });
      const token = tokenOf(r.metadata.metadata as Record<string, unknown>);
      if (cmd.optsWithGlobals().quiet) ctx.println(token);
      else ctx.println(`Member ${name} join token:\n${token}`);
    });

  cl.command("list-tokens").description("List all active cluster member join tokens").argument("[remote]")
    .addOption(new Option("-f, --format <format>", "Format").choices(FORMATS).default("table"))
    .action(async (a: string | undefined, o: { format: Format }) => {
      const ops = await joinTokens(ctx, ctx.parseRemote(a ?? "").remote);
      const rows = ops.map((op) => {
        const m = op.metadata as Record<string, unknown>;
        return [String(m.serverName), tokenOf(m), goShortTime(String(m.expiresAt))];
      }).sort((x, y) => naturalCompare(x[0]!, y[0]!));
      ctx.print(renderList(o.format, ["NAME", "TOKEN", "EXPIRES AT"], rows, ops));
    });

  cl.command("revoke-token").description("Revoke cluster member join token").argument("<name>")
    .action(async (arg: string) => {
      const { remote, name } = ctx.parseRemote(arg);
      const op = (await joinTokens(ctx, remote)).find((x) =>
        (x.metadata as Record<string, unknown>)?.serverName === name
      );
      if (!op) throw new Error(`No cluster join token for member ${name} on remote: ${remote}`);
      await (await ctx.client(remote)).request("DELETE", `/1.0/operations/${op.id}`);
      ctx.println(`Cluster join token for ${remote}:${name} deleted`);
    });

  cl.command("remove").alias("rm").description("Remove a member from the cluster").argument("<member>")
    .option("-f, --force", "Force removing a member, even if degraded")
    .option("--yes", "Don't require user confirmation for using --force")
    .action(async (arg: string, o: { force?: boolean; yes?: boolean }) => {
      const { remote, name } = ctx.parseRemote(arg);
      const c = await clusteredClient(ctx, remote);
      if (o.force && !o.yes) {
        const answer = await ctx.ask(`Are you really sure you want to force removing ${name}? (yes/no): `);
        if (answer.trim().toLowerCase() !== "yes") throw new Error("User aborted delete operation");
      }
      await c.request(
        "DELETE",
        `/1.0/cluster/members/${encodeURIComponent(name)}${o.force ? "?force=1" : ""}`,
      );
      ctx.println(`Member ${name} removed`);
    });

  cl.command("enable").description("Enable clustering on a single non-clustered LXD server")
    .argument("<name-or-remote>", "[<remote>:] <name>").argument("[name]")
    .action(async (a: string, b: string | undefined) => {
      const remote = b === undefined ? ctx.config["default-remote"] : ctx.parseRemote(a).remote;
      const name = b ?? a;
      const c = await ctx.client(remote);
      const server = await c.get<{ config?: Record<string, unknown> }>("/1.0");
      if (!server.config?.["core.https_address"]) {
        throw new Error("This LXD server is not available on the network");
      }
      const info = await c.get<ClusterInfo>("/1.0/cluster");
      if (info.enabled) throw new Error("This LXD server is already clustered");
      await c.runOperation("PUT", "/1.0/cluster", { body: { server_name: name, enabled: true } });
      ctx.println("Clustering enabled");
    });
  addClusterMemberCommands(cl, ctx);
  addClusterGroupCommands(cl, ctx);
  addClusterDoctorCommand(cl, ctx);
  addClusterEvacuateCommands(cl, ctx);
  clusterCertificateCommand(ctx, cl);
  return cl;
}

/** `cluster update-certificate CERT KEY`: one new cluster certificate on every member at once. */
export function clusterCertificateCommand(ctx: CliContext, cl: Command): void {
  cl.command("update-certificate").alias("update-cert").description("Update cluster certificate")
    .argument("<args...>", "[<remote>:] <cert.crt> <cert.key>")
    .action(async (args: string[]) => {
      if (args.length < 2 || args.length > 3) {
        throw new Error("Invalid number of arguments: [<remote>:] <cert.crt> <cert.key>");
      }
      const [remoteArg, certPath, keyPath] = args.length === 2
        ? ["", args[0]!, args[1]!]
        : [args[0]!, args[1]!, args[2]!];
      const remote = remoteArg === "" ? ctx.config["default-remote"] : ctx.parseRemote(remoteArg).remote;
      const cert = await Deno.readTextFile(certPath).catch(() => {
        throw new Error(`Could not read certificate file: ${certPath}`);
      });
      const key = await Deno.readTextFile(keyPath).catch(() => {
        throw new Error(`Could not read certificate key file: ${keyPath}`);
      });
      const c = await clusteredClient(ctx, remote);
      await c.request("PUT", "/1.0/cluster/certificate", {
        body: { cluster_certificate: cert, cluster_certificate_key: key },
      });
      // A remote over HTTPS is pinned to the certificate it served: pin the new one.
      if (!ctx.config.remotes[remote]?.addr.startsWith("unix:")) writeServerCert(remote, cert, ctx.confDir);
      ctx.println(`Successfully updated cluster certificates for remote ${remote}`);
    });
}
