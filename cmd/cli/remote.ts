import { Command, Option } from "commander";
import { Client, fetchServerCertificate } from "../../lib/client/mod.ts";
import { decodeToken } from "../../lib/wire/tokens.ts";
import type { Server } from "../../lib/wire/mod.ts";
import { naturalCompare, splitHostPort } from "../../lib/util/mod.ts";
import { clientCertificate, removeServerCert, writeClientConfig, writeServerCert } from "./config_file.ts";
import type { CliContext } from "./context.ts";
import { type Format, FORMATS, renderList } from "./format.ts";

/** Normalizes what the user typed to https://host:port (or unix://path). */
function normalizeUrl(addr: string): string {
  if (addr.startsWith("unix:") || addr.startsWith("/")) return "unix://" + addr.replace(/^unix:(\/\/)?/, "");
  const hostPort = addr.replace(/^https:\/\//, "").replace(/\/.*$/, "");
  if (/^[a-z]+:\/\//.test(addr) && !addr.startsWith("https://")) {
    throw new Error(`Invalid URL scheme "${addr.split(":")[0]}" in "${addr}"`);
  }
  const { host, port } = splitHostPort(hostPort);
  return `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

async function pinAndTrust(
  ctx: CliContext,
  name: string,
  url: string,
  o: { acceptCertificate?: boolean; password?: string; token?: string; expectedFingerprint?: string },
): Promise<void> {
  const u = new URL(url);
  const pem = await fetchServerCertificate(u.hostname.replace(/^\[|\]$/g, ""), Number(u.port || 8443));
  const { fingerprint } = await import("../../lib/tls/mod.ts");
  const fp = await fingerprint(pem);
  if (o.expectedFingerprint !== undefined) {
    if (fp !== o.expectedFingerprint) {
      throw new Error(`Certificate fingerprint mismatch between certificate token and server "${url}"`);
    }
  } else if (!o.acceptCertificate) {
    ctx.println(`Certificate fingerprint: ${fp}`);
    const line = (await ctx.ask("ok (y/n/[fingerprint])? ")).trim();
    if (line !== fp) {
      if (line === "" || line[0]!.toLowerCase() === "n") throw new Error("Server certificate NACKed by user");
      if (line[0]!.toLowerCase() !== "y") throw new Error("Please type 'y', 'n' or the fingerprint:");
    }
  }
  const client = new Client({
    kind: "https",
    url,
    serverCert: pem,
    clientCert: await clientCertificate(ctx.confDir),
  });
  try {
    let srv = await client.get<Server>("/1.0");
    if (srv.auth !== "trusted") {
      let secret = o.token ?? o.password;
      if (secret === undefined) secret = (await ctx.ask(`Admin password (or token) for ${name}: `)).trim();
      try {
        await client.request("POST", "/1.0/certificates", { body: { type: "client", password: secret } });
      } catch (e) {
        if (o.token !== undefined) throw new Error(`Failed to create certificate: ${(e as Error).message}`);
        throw e;
      }
      srv = await client.get<Server>("/1.0");
      if (srv.auth !== "trusted") throw new Error("Server doesn't trust us after authentication");
      if (o.token === undefined) ctx.println(`Client certificate now trusted by server: ${name}`);
    }
  } finally {
    client.close();
  }
  writeServerCert(name, pem, ctx.confDir);
  ctx.config.remotes[name] = { addr: url, auth_type: "tls", project: "", protocol: "lxd", public: false };
  writeClientConfig(ctx.config, ctx.confDir);
}

/** `remote add|list|switch|remove|get-default|rename|set-url`. */
export function remoteCommand(ctx: CliContext): Command {
  const remote = new Command("remote").description("Manage the list of remote servers");

  remote.command("add").description("Add new remote servers")
    .argument("[remote]", "remote name")
    .argument("<address>", "IP, FQDN, URL or token")
    .option("--accept-certificate", "Accept certificate")
    .option("--password <password>", "Remote admin password")
    .option("--public", "Public image server")
    .option("--protocol <protocol>", "Server protocol (lxd or simplestreams)", "lxd")
    .option("--auth-type <type>", "Server authentication type (tls)", "tls")
    .option("--project <project>", "Project to use for the remote")
    .action(async (nameArg: string | undefined, address: string, o) => {
      const name = nameArg ?? address;
      if (name.includes(":") && nameArg !== undefined) throw new Error("Remote names may not contain colons");
      if (ctx.config.remotes[name]) {
        throw new Error(`Remote ${name} exists as <${ctx.config.remotes[name]!.addr}>`);
      }
      if (o.protocol !== "lxd") throw new Error(`Invalid protocol: ${o.protocol}`);
      let token: ReturnType<typeof decodeToken> | null = null;
      try {
        token = decodeToken(address);
      } catch { /* an address */ }
      if (token?.kind === "certificate") {
        for (const a of token.token.addresses) {
          try {
            await pinAndTrust(ctx, name, `https://${a}`, {
              token: address,
              expectedFingerprint: token.token.fingerprint,
            });
            return;
          } catch (e) {
            if (/ECONNREFUSED|Timed out|unreachable/i.test((e as Error).message)) continue;
            throw e;
          }
        }
        throw new Error("All server addresses are unavailable");
      }
      const url = normalizeUrl(address);
      if (url.startsWith("unix://")) {
        ctx.config.remotes[name] = {
          addr: url,
          auth_type: "tls",
          project: "",
          protocol: "lxd",
          public: false,
        };
        writeClientConfig(ctx.config, ctx.confDir);
        return;
      }
      await pinAndTrust(ctx, name, url, { acceptCertificate: o.acceptCertificate, password: o.password });
    });

  remote.command("list").alias("ls").description("List the available remotes")
    .addOption(new Option("-f, --format <format>", "Format").choices(FORMATS).default("table"))
    .action((o: { format: Format }) => {
      const rows = Object.keys(ctx.config.remotes).sort(naturalCompare).map((n) => {
        const r = ctx.config.remotes[n]!;
        const label = n === ctx.config["default-remote"] ? `${n} (current)` : n;
        const proto = r.protocol ?? "lxd";
        const auth = r.addr.startsWith("unix:") ? "file access" : (r.auth_type ?? "tls");
        return [
          label,
          r.addr,
          proto,
          auth,
          r.public ? "YES" : "NO",
          n === "local" ? "YES" : "NO",
          // GLOBAL marks remotes of the system-wide config; shoal keeps every remote per user.
          "NO",
        ];
      });
      ctx.print(
        renderList(
          o.format,
          ["NAME", "URL", "PROTOCOL", "AUTH TYPE", "PUBLIC", "STATIC", "GLOBAL"],
          rows,
          ctx.config.remotes,
        ),
      );
    });

  remote.command("switch").description("Switch the default remote").argument("<remote>")
    .action((name: string) => {
      if (!ctx.config.remotes[name]) throw new Error(`Remote ${name} doesn't exist`);
      ctx.config["default-remote"] = name;
      writeClientConfig(ctx.config, ctx.confDir);
    });

  remote.command("get-default").description("Show the default remote").action(() =>
    ctx.println(ctx.config["default-remote"])
  );

  remote.command("remove").alias("rm").description("Remove remotes").argument("<remote>")
    .action((name: string) => {
      if (!ctx.config.remotes[name]) throw new Error(`Remote ${name} doesn't exist`);
      if (name === "local") throw new Error(`Remote ${name} is static and cannot be modified`);
      if (ctx.config["default-remote"] === name) throw new Error("Can't remove the default remote");
      delete ctx.config.remotes[name];
      removeServerCert(name, ctx.confDir);
      writeClientConfig(ctx.config, ctx.confDir);
    });

  remote.command("rename").description("Rename remotes").argument("<old>").argument("<new>")
    .action((from: string, to: string) => {
      const r = ctx.config.remotes[from];
      if (!r) throw new Error(`Remote ${from} doesn't exist`);
      if (ctx.config.remotes[to]) throw new Error(`Remote ${to} already exists`);
      ctx.config.remotes[to] = r;
      delete ctx.config.remotes[from];
      try {
        Deno.renameSync(`${ctx.confDir}/servercerts/${from}.crt`, `${ctx.confDir}/servercerts/${to}.crt`);
      } catch { /* none pinned */ }
      if (ctx.config["default-remote"] === from) ctx.config["default-remote"] = to;
      writeClientConfig(ctx.config, ctx.confDir);
    });

  remote.command("set-url").description("Set the URL for the remote").argument("<remote>").argument("<url>")
    .action((name: string, url: string) => {
      const r = ctx.config.remotes[name];
      if (!r) throw new Error(`Remote ${name} doesn't exist`);
      r.addr = normalizeUrl(url);
      writeClientConfig(ctx.config, ctx.confDir);
    });
  return remote;
}
