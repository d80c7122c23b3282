import { Command } from "commander";
import { Progress } from "./progress.ts";
import type { CliContext } from "./context.ts";
import { checkRaw, requestBytes } from "../../lib/client/mod.ts";

/** Splits "[remote:]instance/path" into its parts; the path is absolute. */
function target(ctx: CliContext, arg: string): { remote: string; name: string; path: string } {
  const p = ctx.parseRemote(arg);
  const i = p.name.indexOf("/");
  if (i <= 0) throw new Error(`Invalid target ${arg}`);
  return { remote: p.remote, name: p.name.slice(0, i), path: p.name.slice(i) };
}

function basename(p: string): string {
  return p.replace(/\/+$/, "").replace(/^.*\//, "");
}

/** `file push|pull|delete`: paths stay inside the instance's root (the server enforces it). */
export function fileCommand(ctx: CliContext): Command {
  const file = new Command("file").description("Manage files in instances");
  file.command("push").description("Push files into instances")
    .argument("<sources...>", "local files, then [remote:]instance/path")
    .option("-p, --create-dirs", "Create any directories necessary")
    .option("--uid <uid>", "Set the file's uid on push")
    .option("--gid <gid>", "Set the file's gid on push")
    .option("--mode <mode>", "Set the file's perms on push (octal)")
    .action(
      async (args: string[], o: { createDirs?: boolean; uid?: string; gid?: string; mode?: string }) => {
        if (args.length < 2) throw new Error("Invalid number of arguments");
        const t = target(ctx, args.pop()!);
        const c = await ctx.client(t.remote);
        const base = `/1.0/instances/${encodeURIComponent(t.name)}/files?path=`;
        if (o.createDirs) {
          const parts = t.path.split("/").filter((x) => x !== "");
          const dirs = args.length > 1 || t.path.endsWith("/") ? parts : parts.slice(0, -1);
          for (let i = 1; i <= dirs.length; i++) {
            const d = "/" + dirs.slice(0, i).join("/");
            checkRaw(
              await requestBytes(c, "POST", base + encodeURIComponent(d), null, {
                "X-LXD-type": "directory",
                "X-LXD-mode": "0755",
              }),
            );
          }
        }
        for (const src of args) {
          const data = src === "-"
            ? new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer())
            : await Deno.readFile(src);
          const st = src === "-" ? null : await Deno.stat(src);
          const dest = t.path.endsWith("/") || args.length > 1
            ? `${t.path.replace(/\/?$/, "/")}${basename(src)}`
            : t.path;
          const headers: Record<string, string> = {
            "X-LXD-type": "file",
            "X-LXD-write": "overwrite",
            "X-LXD-uid": o.uid ?? String(st?.uid ?? 0),
            "X-LXD-gid": o.gid ?? String(st?.gid ?? 0),
            "X-LXD-mode": o.mode ?? ((st?.mode ?? 0o644) & 0o7777).toString(8).padStart(4, "0"),
            "Content-Type": "application/octet-stream",
          };
          const bar = new Progress(`Pushing ${src} to ${dest}`, { quiet: ctx.quiet });
          checkRaw(
            await requestBytes(
              c,
              "POST",
              base + encodeURIComponent(dest),
              data,
              headers,
              (d, t) => bar.update(d, t),
            )
              .finally(() => bar.done()),
          );
        }
      },
    );
  file.command("pull").description("Pull files from instances")
    .argument("<sources...>", "[remote:]instance/path…, then a local path (- for stdout)")
    .action(async (args: string[]) => {
      if (args.length < 2) throw new Error("Invalid number of arguments");
      const dest = args.pop()!;
      let destIsDir = false;
      try {
        destIsDir = (await Deno.stat(dest)).isDirectory;
      } catch { /* a new file */ }
      for (const s of args) {
        const t = target(ctx, s);
        const c = await ctx.client(t.remote);
        // Not on stdout's terminal when the file itself goes to stdout.
        const bar = new Progress(`Pulling ${t.path} from ${t.name}`, { quiet: ctx.quiet || dest === "-" });
        const r = checkRaw(
          await requestBytes(
            c,
            "GET",
            `/1.0/instances/${encodeURIComponent(t.name)}/files?path=${encodeURIComponent(t.path)}`,
            null,
            {},
            (d, tot) => bar.update(d, tot),
          ).finally(() => bar.done()),
        );
        if (r.headers.get("X-LXD-type") === "directory") {
          throw new Error(`${t.path} is a directory (recursive pull is not supported)`);
        }
        if (dest === "-") {
          Deno.stdout.writeSync(r.body);
          continue;
        }
        const out = destIsDir ? `${dest.replace(/\/$/, "")}/${basename(t.path)}` : dest;
        const mode = parseInt(r.headers.get("X-LXD-mode") ?? "0644", 8);
        await Deno.writeFile(out, r.body, { mode });
      }
    });
  file.command("delete").alias("rm").description("Delete files in instances")
    .argument("<paths...>", "[remote:]instance/path")
    .action(async (args: string[]) => {
      for (const a of args) {
        const t = target(ctx, a);
        checkRaw(
          await requestBytes(
            await ctx.client(t.remote),
            "DELETE",
            `/1.0/instances/${encodeURIComponent(t.name)}/files?path=${encodeURIComponent(t.path)}`,
            null,
          ),
        );
      }
    });
  return file;
}
