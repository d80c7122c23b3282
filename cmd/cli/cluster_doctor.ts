import { type Command, Option } from "commander";
import type { DoctorReport } from "../../lib/wire/mod.ts";
import type { CliContext } from "./context.ts";

/** The report as a person reads it: one line when healthy, else each problem with its fix. */
export function renderDoctor(r: DoctorReport): string {
  if (r.healthy) return `${r.summary}\n`;
  const out = [r.summary, ""];
  r.problems.forEach((p, i) => {
    out.push(`${i + 1}. ${p.summary}`, `   Cause: ${p.cause}`, "   Fix:");
    for (const f of p.fix) out.push(`     ${f}`);
    out.push("");
  });
  return out.join("\n");
}

/**
 * `cluster doctor`: compares what every reachable member knows (Raft configuration, raft_nodes,
 * members, heartbeats, versions, clocks, certificates) and prints each problem with its cause
 * and the commands that fix it. Exits 1 when it found a problem, so scripts can tell.
 */
export function addClusterDoctorCommand(cl: Command, ctx: CliContext): void {
  cl.command("doctor").description("Diagnose the cluster and print how to fix what is wrong")
    .argument("[remote]", "[<remote>:]")
    .addOption(new Option("-f, --format <format>", "Format").choices(["text", "json"]).default("text"))
    .action(async (a: string | undefined, o: { format: string }) => {
      const { remote } = ctx.parseRemote(a ?? "");
      const c = await ctx.client(remote);
      const r = await c.get<DoctorReport>("/internal/cluster/doctor");
      ctx.print(o.format === "json" ? JSON.stringify(r, null, 2) + "\n" : renderDoctor(r));
      if (!r.healthy) Deno.exitCode = 1;
    });
}
