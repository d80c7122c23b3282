/**
 * What an operator sees of the client on a terminal: a progress line while an image is imported
 * and files are pushed and pulled (under a real pseudo-terminal, from util-linux's `script`), and
 * nothing of it when the output is piped; `shoal completion bash` completing commands, and
 * member, instance, image and remote names from the server, run by a real bash. One member,
 * clustered on 127.0.0.179.
 */
import assert from "node:assert/strict";
import { Member, run, SHOAL, tempDir } from "../helpers/member.ts";
import { busyboxImage, PRESEED, stopContainers } from "../compat/instances_helpers.ts";

/** Runs shoal ARGS under a pseudo-terminal; returns everything it wrote there. */
async function onTerminal(m: Member, args: string[]): Promise<string> {
  const line = [SHOAL, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const r = await run("script", ["-qfec", line, "/dev/null"], { env: m.env });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return r.stdout;
}

/** What the bash completion offers after the words of a command line (the last one being typed). */
async function bashComplete(m: Member, words: string[]): Promise<string[]> {
  const script = (await m.shoal(["completion", "bash"])).stdout;
  const w = words.map((x) => `'${x}'`).join(" ");
  const r = await run("bash", [
    "-c",
    `${script}\nCOMP_WORDS=(shoal ${w}); COMP_CWORD=${words.length}; _shoal_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
  ], { env: { ...m.env, PATH: `${SHOAL.replace(/\/[^/]+$/, "")}:${Deno.env.get("PATH")}` } });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split("\n").filter((x) => x !== "");
}

Deno.test("client: progress on a terminal only, and shell completion with names from the server", async (t) => {
  await using tmp = await tempDir("cli-operator");
  const image = await busyboxImage(tmp.path);
  // Big enough to take more than one progress update.
  const big = `${tmp.path}/big.bin`;
  await Deno.writeFile(big, crypto.getRandomValues(new Uint8Array(60_000)).map((_, i) => i % 251));
  const m = await new Member(`${tmp.path}/m1`).start();
  try {
    const init = await m.shoald(["init", "--preseed"], {
      stdin:
        `config:\n  core.https_address: 127.0.0.179:8443\ncluster:\n  server_name: m1\n  enabled: true\n${PRESEED}`,
    });
    assert.equal(init.code, 0, init.stderr);

    await t.step("image import: a progress line on a terminal, none when piped", async () => {
      const shown = await onTerminal(m, ["image", "import", image, "--alias", "bb"]);
      assert.match(
        shown,
        /Transferring image: 100% \(\d+(\.\d+)?[kM]B of \d+(\.\d+)?[kM]B, [\d.]+[kMG]?B\/s\)/,
      );
      assert.match(shown, /Image imported with fingerprint: [0-9a-f]{64}/);
      await m.shoal(["image", "delete", "bb"]);
      const piped = await m.shoal(["image", "import", image, "--alias", "bb"]);
      assert.equal(piped.code, 0, piped.stderr);
      assert.doesNotMatch(piped.stdout + piped.stderr, /Transferring|%/);
      const quiet = await onTerminal(m, ["image", "import", image, "--alias", "bb2", "--quiet"]).catch((e) =>
        `${e}`
      );
      assert.doesNotMatch(quiet, /Transferring/);
    });

    await t.step("file push and pull: progress on a terminal, none when piped", async () => {
      const launch = await m.shoal(["launch", "bb", "c1"]);
      assert.equal(launch.code, 0, launch.stderr);
      const pushed = await onTerminal(m, ["file", "push", big, "c1/root/big.bin"]);
      assert.match(pushed, /Pushing .*big\.bin to \/root\/big\.bin: 100% \(60\.0kB of 60\.0kB/);
      const pulled = await onTerminal(m, ["file", "pull", "c1/root/big.bin", `${tmp.path}/back.bin`]);
      assert.match(pulled, /Pulling \/root\/big\.bin from c1: 100%/);
      assert.deepEqual(await Deno.readFile(`${tmp.path}/back.bin`), await Deno.readFile(big));
      const piped = await m.shoal(["file", "pull", "c1/root/big.bin", `${tmp.path}/again.bin`]);
      assert.equal(piped.stdout + piped.stderr, "");
    });

    await t.step("bash completion: commands, then names from the server and the config", async () => {
      assert.ok((await bashComplete(m, [""])).includes("cluster"));
      assert.deepEqual(await bashComplete(m, ["clu"]), ["cluster"]);
      assert.ok((await bashComplete(m, ["cluster", ""])).includes("list"));
      assert.deepEqual(await bashComplete(m, ["cluster", "show", ""]), ["m1"]);
      assert.ok((await bashComplete(m, ["start", ""])).includes("c1"));
      assert.deepEqual(await bashComplete(m, ["exec", "c"]), ["c1"]);
      const images = await bashComplete(m, ["image", "show", ""]);
      assert.ok(images.includes("bb") && images.some((i) => /^[0-9a-f]{12}$/.test(i)), images.join(","));
      assert.ok((await bashComplete(m, ["remote", "switch", ""])).includes("local:"));
      for (const shell of ["zsh", "fish"]) {
        const s = await m.shoal(["completion", shell]);
        assert.equal(s.code, 0);
        assert.match(s.stdout, /shoal __complete --/);
      }
      const bad = await m.shoal(["completion", "tcsh"]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /^Error: Unsupported shell "tcsh": bash, zsh or fish/);
    });
  } finally {
    await stopContainers(m.dir);
    await m.stop();
  }
});
