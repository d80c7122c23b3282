/**
 * The real lxc 5.0 client (Debian's lxd-client) against shoal: over the unix socket with LXD_DIR,
 * and over HTTPS after `lxc remote add` with the trust password or a token. Skipped, saying so,
 * when lxc is not installed. Each lxc run has its own LXD_CONF. Address: 127.0.0.20.
 */
import assert from "node:assert/strict";
import { Member, run, spawnBackground, tempDir, waitFor } from "../helpers/member.ts";

const HAVE_LXC = (await run("sh", ["-c", "command -v lxc"])).code === 0;
if (!HAVE_LXC) console.log("tests/compat: lxc is not installed (apt-get install lxd-client): skipping");

const ADDR = "127.0.0.20:8443";

/** Starts `lxc ARGS` in the background with its stdout collected. */
function spawnLxc(m: Member, args: string[], conf: string) {
  return spawnBackground("lxc", args, m.lxcEnv(conf));
}

Deno.test({
  name: "the real lxc client drives shoal over the unix socket and over HTTPS",
  ignore: !HAVE_LXC,
  fn: async (t) => {
    await using tmp = await tempDir("compat-lxc");
    const m = await new Member(`${tmp.path}/m1`).start();
    const conf = (name: string) => `${tmp.path}/${name}.lxcconf`;
    try {
      await t.step("LXD_DIR=$SHOAL_DIR lxc info shows the server", async () => {
        const r = await m.lxc(["info"], { conf: conf("local") });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /api_version: "1.0"/);
        assert.match(r.stdout, /auth: trusted/);
        assert.match(r.stdout, /server_name: /);
      });

      await t.step("lxc config set, get, unset of user.x", async () => {
        const c = conf("local");
        assert.equal((await m.lxc(["config", "set", "user.x", "hello"], { conf: c })).code, 0);
        assert.equal((await m.lxc(["config", "get", "user.x"], { conf: c })).stdout, "hello\n");
        assert.equal((await m.shoal(["config", "get", "user.x"])).stdout, "hello\n");
        assert.equal((await m.lxc(["config", "set", "user.x=1", "user.y=2"], { conf: c })).code, 0);
        assert.equal((await m.lxc(["config", "get", "user.y"], { conf: c })).stdout, "2\n");
        const unset = await m.lxc(["config", "unset", "user.x"], { conf: c });
        assert.equal(unset.code, 0, unset.stderr);
        assert.equal((await m.lxc(["config", "get", "user.x"], { conf: c })).stdout, "\n");
      });

      await t.step("lxc sees LXD's refusals as Error: lines with exit 1, and nothing changes", async () => {
        const c = conf("local");
        const bad = await m.lxc(["config", "set", "foo.bar", "1"], { conf: c });
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /^Error: cannot set 'foo.bar' to '1': unknown key/m);
        const badInt = await m.lxc(["config", "set", "images.auto_update_interval", "soon"], { conf: c });
        assert.equal(badInt.code, 1);
        assert.match(badInt.stderr, /^Error: .*invalid integer/m);
        assert.equal(
          (await m.lxc(["config", "get", "images.auto_update_interval"], { conf: c })).stdout,
          "\n",
        );
        assert.equal((await m.lxc(["config", "get", "user.y"], { conf: c })).stdout, "2\n");
      });

      await t.step("lxc config set core.trust_password: stored hashed, shown as true", async () => {
        const c = conf("local");
        const r = await m.lxc(["config", "set", "core.trust_password", "sekret"], { conf: c });
        assert.equal(r.code, 0, r.stderr);
        assert.equal((await m.lxc(["config", "get", "core.trust_password"], { conf: c })).stdout, "true\n");
        const stored = await m.shoald([
          "sql",
          "global",
          "SELECT value FROM config WHERE key = 'core.trust_password'",
        ]);
        assert.doesNotMatch(stored.stdout, /sekret/);
        // Another change through lxc (GET, then PUT of the whole config) keeps the password.
        assert.equal((await m.lxc(["config", "set", "user.z", "3"], { conf: c })).code, 0);
        assert.equal((await m.lxc(["config", "get", "core.trust_password"], { conf: c })).stdout, "true\n");
      });

      await t.step("lxc query /1.0 and lxc query -X PATCH -d", async () => {
        const c = conf("local");
        const q = await m.lxc(["query", "/1.0"], { conf: c });
        assert.equal(q.code, 0, q.stderr);
        const info = JSON.parse(q.stdout);
        assert.equal(info.api_version, "1.0");
        assert.equal(info.config["user.y"], "2");
        const patch = await m.lxc([
          "query",
          "-X",
          "PATCH",
          "-d",
          '{"config":{"user.q":"from-query"}}',
          "/1.0",
        ], {
          conf: c,
        });
        assert.equal(patch.code, 0, patch.stderr);
        assert.equal((await m.lxc(["config", "get", "user.q"], { conf: c })).stdout, "from-query\n");
        const missing = await m.lxc(["query", "/1.0/nothing"], { conf: c });
        assert.equal(missing.code, 1);
        assert.match(missing.stderr, /Error: not found/);
      });

      await t.step("lxc monitor receives a lifecycle event", async () => {
        const mon = spawnLxc(m, ["monitor", "--type=lifecycle"], conf("local"));
        try {
          // The monitor is connected once an event it asked for reaches it; keep changing until one does.
          let i = 0;
          await waitFor(
            "lxc monitor to print a config-updated event",
            async () => {
              await m.shoal(["config", "set", "user.monitor", String(i++)]);
              return /action: config-updated/.test(mon.output);
            },
            30_000,
            300,
          );
          assert.match(mon.output, /type: lifecycle/);
          assert.match(mon.output, /source: \/1\.0/);
        } finally {
          await mon.stop();
        }
      });

      await t.step("over HTTPS: lxc remote add with the trust password, then lxc info r:", async () => {
        const c = conf("local");
        assert.equal((await m.lxc(["config", "set", "core.https_address", ADDR], { conf: c })).code, 0);
        const remote = conf("remote");
        const wrong = await m.lxc(
          ["remote", "add", "r", `https://${ADDR}`, "--accept-certificate", "--password", "nope"],
          { conf: remote },
        );
        assert.notEqual(wrong.code, 0);
        assert.match(wrong.stderr, /not authorized/);
        const add = await m.lxc(
          ["remote", "add", "r", `https://${ADDR}`, "--accept-certificate", "--password", "sekret"],
          { conf: remote },
        );
        assert.equal(add.code, 0, add.stderr + add.stdout);
        assert.match(add.stdout, /Client certificate now trusted by server: r/);
        const info = await m.lxc(["info", "r:"], { conf: remote });
        assert.equal(info.code, 0, info.stderr);
        assert.match(info.stdout, /auth: trusted/);
        assert.match(info.stdout, /certificate_fingerprint: [0-9a-f]{64}/);
        assert.equal((await m.lxc(["config", "get", "r:", "user.y"], { conf: remote })).stdout, "2\n");
        assert.equal((await m.lxc(["config", "set", "r:", "user.over", "https"], { conf: remote })).code, 0);
        assert.equal((await m.shoal(["config", "get", "user.over"])).stdout, "https\n");
        const ops = await m.lxc(["operation", "list", "r:"], { conf: remote });
        assert.equal(ops.code, 0, ops.stderr);
        // shoal lists the certificate lxc made for itself.
        const trust = await m.shoal(["config", "trust", "list", "--format", "csv"]);
        assert.equal(trust.stdout.trim().split("\n").length, 1, trust.stdout);
      });

      await t.step(
        "lxc monitor --type=logging sees the daemon's warning of a wrong trust password",
        async () => {
          const mon = spawnLxc(m, ["monitor", "--type=logging"], conf("local"));
          try {
            let i = 0;
            await waitFor(
              "a logging event for the bad password",
              async () => {
                await m.lxc(
                  ["remote", "add", "bad", `https://${ADDR}`, "--accept-certificate", "--password", "wrong"],
                  { conf: conf(`bad${i++}`) },
                );
                return /message: Bad trust password/.test(mon.output);
              },
              60_000,
              300,
            );
            assert.match(mon.output, /type: logging/);
            assert.match(mon.output, /level: warn/);
          } finally {
            await mon.stop();
          }
        },
      );

      await t.step(
        "a certificate add token from lxc config trust add; lxc operation list shows it",
        async () => {
          const c = conf("local");
          const tok = await m.lxc(["config", "trust", "add", "--name", "laptop"], { conf: c });
          assert.equal(tok.code, 0, tok.stderr);
          const token = tok.stdout.trim().split("\n").pop()!;
          const ops = await m.lxc(["operation", "list"], { conf: c });
          assert.equal(ops.code, 0, ops.stderr);
          assert.match(ops.stdout, /\| TOKEN +\| Certificate add token +\| RUNNING +\| YES +\|/);
          const csv = await m.lxc(["operation", "list", "--format", "csv"], { conf: c });
          assert.match(csv.stdout, /,TOKEN,Certificate add token,RUNNING,YES,/);
          const add = await m.lxc(["remote", "add", "t", token], { conf: conf("token") });
          assert.equal(add.code, 0, add.stderr + add.stdout);
          assert.equal((await m.lxc(["info", "t:"], { conf: conf("token") })).code, 0);
          const again = await m.lxc(["remote", "add", "t", token], { conf: conf("token2") });
          assert.notEqual(again.code, 0);
          const list = await m.lxc(["config", "trust", "list", "--format", "csv"], { conf: c });
          assert.match(list.stdout, /laptop/);
        },
      );

      await t.step("shoal draws the same tables and CSV as lxc, on the same daemon", async () => {
        const c = conf("local");
        // A token so that every list has a row.
        assert.equal((await m.lxc(["config", "trust", "add", "--name", "tables"], { conf: c })).code, 0);
        // Finished operations go a few seconds after they end: compare once only running ones are left.
        await waitFor(
          "finished operations to be cleaned up",
          async () => {
            const ops = (await m.shoal(["operation", "list", "--format", "csv"])).stdout;
            return ops !== "" && !/,(CANCELLED|SUCCESS|FAILURE),/.test(ops);
          },
          60_000,
          500,
        );
        for (
          const args of [
            ["operation", "list"],
            ["operation", "list", "--format", "csv"],
            ["config", "trust", "list"],
            ["config", "trust", "list", "--format", "csv"],
            ["config", "trust", "list-tokens"],
            ["config", "trust", "list-tokens", "--format", "csv"],
          ]
        ) {
          const theirs = await m.lxc(args, { conf: c });
          const ours = await m.shoal(args);
          assert.equal(theirs.code, 0, theirs.stderr);
          assert.equal(ours.code, 0, ours.stderr);
          assert.equal(ours.stdout, theirs.stdout, args.join(" "));
        }
        const yamlTheirs = await m.lxc(["config", "show"], { conf: c });
        assert.equal((await m.shoal(["config", "show"])).stdout, yamlTheirs.stdout);
      });

      await t.step("lxc config unset core.trust_password: the password no longer works", async () => {
        const c = conf("local");
        assert.equal((await m.lxc(["config", "unset", "core.trust_password"], { conf: c })).code, 0);
        assert.equal((await m.lxc(["config", "get", "core.trust_password"], { conf: c })).stdout, "\n");
        const add = await m.lxc(
          ["remote", "add", "r2", `https://${ADDR}`, "--accept-certificate", "--password", "sekret"],
          { conf: conf("remote2") },
        );
        assert.notEqual(add.code, 0);
      });
    } finally {
      await m.stop();
    }
  },
});
