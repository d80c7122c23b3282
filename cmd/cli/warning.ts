/** `warning list|show|acknowledge|delete` as lxc 5.0 has them (lxc/warning.go). */
import { Command, Option } from "commander";
import type { Server } from "../../lib/wire/mod.ts";
import type { CliContext } from "./context.ts";
import { type Format, FORMATS, renderList, toYaml } from "./format.ts";

interface Warning {
  uuid: string;
  type: string;
  status: string;
  severity: string;
  count: number;
  project: string;
  location: string;
  first_seen_at: string;
  last_seen_at: string;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Go's "Jan 2, 2006 at 3:04pm (MST)" in UTC. */
function seen(iso: string): string {
  const d = new Date(iso);
  const h = d.getUTCHours() % 12 || 12;
  const m = String(d.getUTCMinutes()).padStart(2, "0");
  return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()} at ${h}:${m}${
    d.getUTCHours() < 12 ? "am" : "pm"
  } (UTC)`;
}

const COLUMNS: Record<string, { header: string; data: (w: Warning) => string }> = {
  u: { header: "UUID", data: (w) => w.uuid },
  t: { header: "TYPE", data: (w) => w.type },
  S: { header: "STATUS", data: (w) => w.status.toUpperCase() },
  s: { header: "SEVERITY", data: (w) => w.severity.toUpperCase() },
  c: { header: "COUNT", data: (w) => String(w.count) },
  p: { header: "PROJECT", data: (w) => w.project },
  L: { header: "LOCATION", data: (w) => w.location },
  f: { header: "FIRST SEEN", data: (w) => seen(w.first_seen_at) },
  l: { header: "LAST SEEN", data: (w) => seen(w.last_seen_at) },
};
const DEFAULT_COLUMNS = "utSscpLl";

export function warningCommand(ctx: CliContext): Command {
  const warning = new Command("warning").description("Manage warnings");
  const at = (arg: string) => ctx.parseRemote(arg);
  warning.command("list").alias("ls").description("List warnings")
    .argument("[remote]", "[remote:]")
    .option("-a, --all", "List all warnings")
    .option("-c, --columns <columns>", "Columns", DEFAULT_COLUMNS)
    .addOption(new Option("-f, --format <format>", "Format").choices([...FORMATS]).default("table"))
    .action(async (remote: string | undefined, o: { all?: boolean; columns: string; format: Format }) => {
      const c = await ctx.client(remote ? at(remote).remote : ctx.config["default-remote"]);
      const clustered = (await c.get<Server>("/1.0")).environment?.server_clustered === true;
      let cols = o.columns;
      if (!clustered) {
        if (cols !== DEFAULT_COLUMNS && cols.includes("L")) {
          throw new Error('Invalid column type (%s): "L": only for a cluster');
        }
        cols = cols.replaceAll("L", "");
      }
      for (const ch of cols) if (!(ch in COLUMNS)) throw new Error(`Invalid column type (%s): "${ch}"`);
      // As lxc: acknowledged and resolved warnings only with --all.
      const all = (await c.get<Warning[]>("/1.0/warnings?recursion=1")).filter((w) =>
        o.all || (w.status !== "acknowledged" && w.status !== "resolved")
      );
      const chosen = [...cols].map((ch) => COLUMNS[ch]!);
      const rows = all.map((w) => chosen.map((x) => x.data(w))).sort((a, b) =>
        a.join("\0").localeCompare(b.join("\0"))
      );
      ctx.print(renderList(o.format, chosen.map((x) => x.header), rows, all));
    });
  warning.command("show").description("Show warning").argument("<uuid>", "[remote:]<uuid>")
    .action(async (arg: string) => {
      const p = at(arg);
      ctx.print(
        toYaml(
          await (await ctx.client(p.remote)).get<Warning>(`/1.0/warnings/${encodeURIComponent(p.name)}`),
        ),
      );
    });
  warning.command("acknowledge").alias("ack").description("Acknowledge warning").argument(
    "<uuid>",
    "[remote:]<uuid>",
  )
    .action(async (arg: string) => {
      const p = at(arg);
      await (await ctx.client(p.remote)).request("PUT", `/1.0/warnings/${encodeURIComponent(p.name)}`, {
        body: { status: "acknowledged" },
      });
    });
  warning.command("delete").alias("rm").description("Delete warning").argument("[uuid]", "[remote:]<uuid>")
    .option("-a, --all", "Delete all warnings")
    .action(async (arg: string | undefined, o: { all?: boolean }) => {
      if (!o.all && !arg) throw new Error("Specify a warning UUID or use --all");
      if (o.all && arg && !arg.endsWith(":")) {
        throw new Error("No need to specify a warning UUID when using --all");
      }
      const p = arg ? at(arg) : { remote: ctx.config["default-remote"], name: "" };
      const c = await ctx.client(p.remote);
      const uuids = o.all
        ? (await c.get<Warning[]>("/1.0/warnings?recursion=1")).map((w) => w.uuid)
        : [p.name];
      for (const u of uuids) await c.request("DELETE", `/1.0/warnings/${encodeURIComponent(u)}`);
    });
  return warning;
}
