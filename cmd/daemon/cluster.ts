/**
 * `shoald cluster …`: LXD's low-level cluster administration (list-database,
 * recover-from-quorum-loss, show, edit, remove-raft-node). All but remove-raft-node open the
 * member's own databases and work with the daemon stopped; those that change them refuse while
 * it runs.
 * @module
 */
import { Command } from "commander";
import { Client } from "../../lib/client/mod.ts";
import type { applyEdit, EditedMember } from "../../lib/cluster/mod.ts";
import { statePaths } from "../../lib/daemon/paths.ts";
import { daemonRunning } from "./running.ts";
import { canonicalAddress, errorMessage, writeStdout } from "../../lib/util/mod.ts";
import { drawTable } from "../cli/format.ts";
import { editInEditor } from "../../lib/util/editor.ts";

/**
 * lib/cluster (the database, Raft storage) loads only for the command that reads or edits it:
 * every shoald admin command (init above all) registers these and would pay its load otherwise.
 */
const recovery = () => import("../../lib/cluster/mod.ts");

/** LXD's refusal, with how to stop it. */
async function refuseIfRunning(): Promise<void> {
  if (await daemonRunning()) {
    throw new Error("The shoal daemon is running, please stop it first (shoald shutdown)");
  }
}

/** Reads one line from stdin ("" at its end). */
async function readLine(): Promise<string> {
  const buf = new Uint8Array(1);
  let line = "";
  for (;;) {
    const n = await Deno.stdin.read(buf);
    if (n === null || buf[0] === 10) return line;
    line += String.fromCharCode(buf[0]!);
  }
}

/** LXD's confirmation: only "yes" proceeds. */
async function confirm(text: string, aborted: string): Promise<void> {
  writeStdout(`${text}\n\nDo you want to proceed? (yes/no): `);
  if ((await readLine()).trim().toLowerCase() !== "yes") throw new Error(aborted);
}

const RECOVER_WARNING = `You should run this command only if you are *absolutely* certain that this is
the only database node left in your cluster AND that other database nodes will
never come back (i.e. their shoal daemon won't ever be started again).

This will make this member the only voter of the cluster, and it won't be
possible to perform operations on former cluster members anymore.

However all information about former cluster members will be preserved in the
database, so you can possibly inspect it for further recovery.

You'll be able to permanently delete from the database all information about
former cluster members by running "lxc cluster remove <member-name> --force".`;

const REMOVE_RAFT_WARNING = `You should run this command only if you ended up in an
inconsistent state where a node has been uncleanly removed (i.e. it doesn't show
up in "lxc cluster list" but it's still in the raft configuration).`;

/** What an edit did, in a few lines for the operator. */
function reportEdit(r: Awaited<ReturnType<typeof applyEdit>>): void {
  for (const c of r.addresses) console.log(`Member ${c.name || c.id}: ${c.from} -> ${c.to}`);
  if (r.selfAddress) console.log(`This member's cluster.https_address is now ${r.selfAddress}`);
  if (r.rolesChanged) console.log("The Raft configuration takes the new roles");
  console.log(
    `Applied at the next start of shoald. Other members can import the same change: shoald cluster edit --import ${r.tarball}`,
  );
}

/** Parses and applies a document; throws the validation error as LXD words it. */
async function applyDocument(text: string): Promise<void> {
  const { applyEdit, parseClusterYaml } = await recovery();
  const members = parseClusterYaml(text);
  reportEdit(await applyEdit(statePaths(), members));
}

/** Drops the lines an earlier error put on top of the document. */
function withoutErrorLines(text: string): string {
  return text.split("\n").filter((l) => !l.startsWith("# Error: ")).join("\n").replace(/^\n+/, "");
}

export function clusterCommand(): Command {
  const cluster = new Command("cluster").description("Low-level cluster administration commands");

  cluster.command("list-database").alias("ls")
    .description("Print the addresses of the cluster members serving the database")
    .action(async () => {
      const { listDatabase, roleName } = await recovery();
      const nodes = listDatabase(statePaths());
      writeStdout(drawTable(
        ["ADDRESS", "NAME", "ROLE"],
        nodes.map((n) => [n.address, n.name, roleName(n.role)]),
      ));
    });

  cluster.command("recover-from-quorum-loss")
    .description("Recover a shoal member whose cluster has lost quorum")
    .option("-q, --quiet", "Don't require user confirmation")
    .action(async (o: { quiet?: boolean }) => {
      await refuseIfRunning();
      if (!o.quiet) await confirm(RECOVER_WARNING, "Recover operation aborted");
      const r = (await recovery()).recoverFromQuorumLoss(statePaths());
      console.log(
        `This member (${
          r.name || r.id
        }, ${r.address}) is now the only voter, at log index ${r.index}. Start shoald; then remove the lost members: ${
          r.dropped.map((n) => `lxc cluster remove ${n.name || n.address} --force`).join("; ") || "none"
        }`,
      );
    });

  cluster.command("show").description("Show cluster configuration as YAML")
    .action(async () => writeStdout((await recovery()).showCluster(statePaths())));

  cluster.command("edit").description("Edit cluster configuration as YAML")
    .option("--import <tarball>", "Apply the recovery tarball another member's cluster edit wrote")
    .action(async (o: { import?: string }) => {
      await refuseIfRunning();
      const { applyEdit, readRecoveryTarball, showCluster } = await recovery();
      if (o.import) {
        const members: EditedMember[] = await readRecoveryTarball(o.import);
        reportEdit(await applyEdit(statePaths(), members));
        return;
      }
      // As lxd: a document on stdin when it is no terminal, the editor otherwise.
      if (!Deno.stdin.isTerminal()) {
        await applyDocument(await new Response(Deno.stdin.readable).text());
        return;
      }
      let text = await editInEditor(showCluster(statePaths()));
      for (;;) {
        try {
          await applyDocument(text);
          return;
        } catch (e) {
          console.error(`Config validation error: ${errorMessage(e)}`);
          console.log("Press enter to open the editor again or ctrl+c to abort change");
          if (await Deno.stdin.read(new Uint8Array(1)) === null) throw e;
          // The refused document comes back with the error on top, as lxc shows it.
          text = await editInEditor(`# Error: ${errorMessage(e)}\n\n${withoutErrorLines(text)}`);
        }
      }
    });

  cluster.command("remove-raft-node").description("Remove a raft node from the raft configuration")
    .argument("<address>", "The leftover member's address (HOST[:PORT])")
    .option("-q, --quiet", "Don't require user confirmation")
    .action(async (arg: string, o: { quiet?: boolean }) => {
      const address = canonicalAddress(arg);
      if (!o.quiet) await confirm(REMOVE_RAFT_WARNING, "Remove raft node operation aborted");
      const c = new Client({ kind: "unix", path: statePaths().socket });
      try {
        await c.request("DELETE", `/internal/cluster/raft-node/${encodeURIComponent(address)}`);
      } catch (e) {
        if (!(await daemonRunning())) {
          throw new Error(
            `Failed to connect to the shoal daemon: start it first (this command works through the running cluster)`,
          );
        }
        throw e;
      } finally {
        c.close();
      }
    });
  return cluster;
}
