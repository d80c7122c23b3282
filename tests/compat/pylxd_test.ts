/**
 * pylxd, a second real client (Debian's python3-pylxd, 2.2), drives a clustered member
 * (127.0.0.177) over the unix socket and over HTTPS with a trusted certificate, pinned to the
 * member's: cluster members, storage pools, an image uploaded, aliased and deleted, a container
 * created, started, exec'd in (exit code and output), stopped and deleted (pylxd_drive.py).
 * Skips, saying so, when pylxd is missing.
 */
import assert from "node:assert/strict";
import { newCert, trust } from "../helpers/callers.ts";
import { formCluster } from "../helpers/cluster.ts";
import { run, tempDir } from "../helpers/member.ts";
import { busyboxImage, PRESEED, stopContainers } from "./instances_helpers.ts";

const PYTHON = "/usr/bin/python3";
const HAVE_PYLXD = (await run("sh", ["-c", `${PYTHON} -c 'import pylxd'`])).code === 0;
if (!HAVE_PYLXD) {
  console.log("tests/compat: python3-pylxd is not installed (scripts/setup installs it): skipping");
}

const ADDRESS = "127.0.0.177";
const DRIVE = new URL("./pylxd_drive.py", import.meta.url).pathname;

/** The steps pylxd_drive.py printed, by name. */
async function drive(args: string[], env: Record<string, string>): Promise<Record<string, unknown>> {
  const r = await run(PYTHON, ["-W", "ignore", DRIVE, ...args], { env, timeoutMs: 120_000 });
  const steps: Record<string, unknown> = {};
  for (const line of r.stdout.split("\n").filter((l) => l.startsWith("{"))) {
    const s = JSON.parse(line);
    steps[s.step] = s.value;
  }
  assert.equal(r.code, 0, `pylxd ${args[0]} failed:\n${r.stdout}\n${r.stderr}`);
  return steps;
}

function expectAll(steps: Record<string, unknown>, mode: string): void {
  assert.equal(steps.trusted, true);
  assert.deepEqual(steps.members, ["m1:Online"]);
  assert.deepEqual(steps.pools, ["default"]);
  assert.deepEqual(
    { listed: (steps.image as { listed: boolean }).listed, alias: (steps.image as { alias: boolean }).alias },
    { listed: true, alias: true },
  );
  assert.equal(steps.started, "Running");
  assert.deepEqual(steps.exec, { exit_code: 3, stdout: `hello from py-${mode}\n` });
  assert.equal(steps.stopped, "Stopped");
  assert.equal(steps.deleted, false);
  assert.equal(steps.image_deleted, false);
}

Deno.test({
  name: "pylxd drives shoal over the unix socket and over HTTPS",
  ignore: !HAVE_PYLXD,
  async fn(t) {
    await using tmp = await tempDir("pylxd");
    const image = await busyboxImage(tmp.path);
    const [m1] = await formCluster(tmp.path, [ADDRESS], { preseed: PRESEED });
    try {
      await t.step("over the unix socket ($LXD_DIR)", async () => {
        expectAll(await drive(["unix", image], { LXD_DIR: m1!.dir, HOME: tmp.path }), "unix");
      });

      await t.step("over HTTPS with a trusted client certificate, the server's pinned", async () => {
        const cert = await newCert("pylxd");
        await trust(m1!, "pylxd", cert);
        const served = JSON.parse((await m1!.shoal(["query", "/1.0"])).stdout).environment.certificate;
        await Deno.writeTextFile(`${tmp.path}/client.crt`, cert.cert);
        await Deno.writeTextFile(`${tmp.path}/client.key`, cert.key);
        await Deno.writeTextFile(`${tmp.path}/server.crt`, served);
        const args = [
          "https",
          `https://${ADDRESS}:8443`,
          `${tmp.path}/client.crt`,
          `${tmp.path}/client.key`,
          `${tmp.path}/server.crt`,
          image,
        ];
        // requests lets REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE override pylxd's verify= (set on
        // some machines to the system's CAs): empty, the pinned certificate is what counts.
        expectAll(await drive(args, { HOME: tmp.path, REQUESTS_CA_BUNDLE: "", CURL_CA_BUNDLE: "" }), "https");
      });
    } finally {
      await stopContainers(m1!.dir);
      await m1!.stop();
    }
  },
});
