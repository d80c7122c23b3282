/**
 * `deno task compile`: builds the single executable with `deno compile` where Deno can fetch
 * its denort runtime. Offline (as on our machines, STACK.md §1) it says so and exits 1; use
 * bin/shoald and bin/shoal, which behave the same.
 */
const out = "dist/shoald";
await Deno.mkdir("dist", { recursive: true });
const p = await new Deno.Command(Deno.execPath(), {
  args: ["compile", "-A", "--output", out, "main.ts"],
  stdout: "inherit",
  stderr: "piped",
}).output();
if (!p.success) {
  const err = new TextDecoder().decode(p.stderr);
  console.error(err.trim().split("\n").slice(-3).join("\n"));
  console.error(
    "\ncompile: deno could not build the executable here; it needs its denort runtime from dl.deno.land " +
      "(or DENORT_BIN pointing at one), which this machine cannot reach. bin/shoald and bin/shoal are the launchers to use.",
  );
  Deno.exit(1);
}
await Deno.symlink("shoald", "dist/shoal").catch(() => {});
console.log(`compile: built ${out} (and dist/shoal); the name it is started as picks the role`);
