/**
 * The foundation end to end: a real daemon from the launcher, our client over the unix socket,
 * HTTPS with client certificates, trust by password and token, operations, events and graceful
 * shutdown. The real lxc client is tested in tests/compat/. Addresses: 127.0.0.21-22.
 */
import assert from "node:assert/strict";
import { Client } from "../../lib/client/mod.ts";
import type { Event, Server } from "../../lib/wire/mod.ts";
import { VERSION } from "../../lib/version.ts";
import { Member, run, SHOAL, SHOALD, spawnBackground, tempDir, waitFor } from "../helpers/member.ts";

Deno.test("a member serves LXD's API to our client over the unix socket and mutual TLS", async (t) => {
  await using tmp = await tempDir("foundation");
  const m = await new Member(`${tmp.path}/m1`).start();
  try {
    await t.step("the state directory is laid out as LXD_DIR, the socket is root's", async () => {
      for (
        const p of [
          "database/local.db",
          "database/global/db.sqlite",
          "server.crt",
          "server.key",
          "containers",
          "images",
          "storage-pools",
          "logs",
        ]
      ) {
        await Deno.stat(`${m.dir}/${p}`);
      }
      assert.equal((await Deno.stat(m.socket)).mode! & 0o777, 0o660);
      assert.equal((await Deno.stat(`${m.dir}/server.key`)).mode! & 0o777, 0o600);
      const cert = await run("openssl", ["x509", "-in", `${m.dir}/server.crt`, "-noout", "-text"]);
      assert.match(cert.stdout, /CA:FALSE/);
      assert.match(cert.stdout, /secp384r1/);
      assert.match(cert.stdout, /Signature Algorithm: ecdsa-with-SHA384/);
      assert.match(cert.stdout, /DNS:localhost/);
      assert.match(cert.stdout, /IP Address:127\.0\.0\.1/);
      const notAfter = new Date(/Not After : (.*)/.exec(cert.stdout)![1]!);
      const years = (notAfter.getTime() - Date.now()) / (365.25 * 86_400_000);
      assert.ok(years > 9.9 && years < 10.1, `valid for ${years} years`);
    });

    await t.step("both databases record their numbered schema updates, with no gaps", async () => {
      for (const db of ["local", "global"]) {
        const r = await m.shoald(["sql", db, "SELECT version FROM schema ORDER BY version"]);
        assert.equal(r.code, 0, r.stderr);
        const versions = [...r.stdout.matchAll(/^\| (\d+) +\|$/gm)].map((x) => Number(x[1]));
        assert.ok(versions.length >= 1, `${db}: ${r.stdout}`);
        assert.deepEqual(versions, versions.map((_, i) => i + 1), `${db} schema versions ${versions}`);
      }
      const tables = await m.shoald(["sql", "local", "SELECT name FROM sqlite_master WHERE type = 'table'"]);
      assert.match(tables.stdout, /\| config +\|/);
    });

    await t.step("shoal info shows a trusted server with LXD's fields", async () => {
      const r = await m.shoal(["info"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /auth: trusted/);
      assert.match(r.stdout, /api_version: "1.0"/);
      assert.match(r.stdout, /server_clustered: false/);
    });

    await t.step("config set, get, unset, and LXD's refusal of unknown keys and bad values", async () => {
      assert.equal((await m.shoal(["config", "set", "user.foo", "bar"])).code, 0);
      assert.equal((await m.shoal(["config", "get", "user.foo"])).stdout, "bar\n");
      assert.equal((await m.shoal(["config", "set", "user.a=1", "user.b=2"])).code, 0);
      assert.match((await m.shoal(["config", "show"])).stdout, /user\.a: "1"/);
      assert.equal((await m.shoal(["config", "unset", "user.foo"])).code, 0);
      assert.equal((await m.shoal(["config", "get", "user.foo"])).stdout, "\n");
      const bad = await m.shoal(["config", "set", "foo.bar", "1"]);
      assert.equal(bad.code, 1);
      assert.equal(bad.stderr.trim(), "Error: cannot set 'foo.bar' to '1': unknown key");
      const badInt = await m.shoal(["config", "set", "images.auto_update_interval", "soon"]);
      assert.match(badInt.stderr, /cannot set 'images.auto_update_interval' to 'soon': invalid integer/);
      const voters = await m.shoal(["config", "set", "cluster.max_voters", "4"]);
      assert.match(voters.stderr, /Value must be an odd number equal to or higher than 3/);
      // Nothing changed by the refused requests.
      assert.equal((await m.shoal(["config", "get", "foo.bar"])).stdout, "\n");
      assert.equal((await m.shoal(["config", "get", "user.a"])).stdout, "1\n");
    });

    await t.step("PUT with a stale ETag is refused with 412 and changes nothing", async () => {
      const c = m.client();
      try {
        const r = await c.request<Server>("GET", "/1.0");
        assert.ok(r.etag);
        await c.request("PATCH", "/1.0", { body: { config: { "user.a": "changed" } } });
        await assert.rejects(
          c.request("PUT", "/1.0", {
            body: { config: { "user.a": "stale" } },
            headers: { "If-Match": r.etag! },
          }),
          (e: Error & { status?: number }) => e.status === 412 && /ETag doesn't match/.test(e.message),
        );
        assert.equal((await c.get<Server>("/1.0")).config?.["user.a"], "changed");
        const bad = await c.raw("PUT", "/1.0", { body: "{not json" });
        assert.equal(bad.status, 400);
        assert.equal(bad.envelope.type, "error");
        const missing = await c.raw("GET", "/1.0/nothing-here");
        assert.equal(missing.status, 404);
        assert.equal(missing.envelope.error, "not found");
      } finally {
        c.close();
      }
    });

    await t.step("the trust password is stored hashed and shown as true", async () => {
      assert.equal((await m.shoal(["config", "set", "core.trust_password", "sekret"])).code, 0);
      const shown = await m.shoal(["query", "/1.0"]);
      assert.match(shown.stdout, /"core.trust_password": true/);
      const stored = await m.shoald([
        "sql",
        "global",
        "SELECT value FROM config WHERE key = 'core.trust_password'",
      ]);
      assert.doesNotMatch(stored.stdout, /sekret/);
      assert.match(stored.stdout, /[0-9a-f]{192}/);
      // Setting another key keeps the password (GET shows true, PUT sends it back).
      assert.equal((await m.shoal(["config", "set", "user.c", "3"])).code, 0);
      assert.match(
        (await m.shoald([
          "sql",
          "global",
          "SELECT count(*) AS n FROM config WHERE key = 'core.trust_password'",
        ])).stdout,
        /\| 1 +\|/,
      );
    });

    await t.step("events carry lifecycle and operation events", async () => {
      const c = m.client();
      const seen: Event[] = [];
      const stream = await c.events(["lifecycle", "operation"], (e) => seen.push(e));
      await stream.ready;
      await m.shoal(["config", "set", "user.evt", "1"]);
      await waitFor(
        "a config-updated lifecycle event",
        () =>
          seen.some((e) =>
            e.type === "lifecycle" && (e.metadata as { action: string }).action === "config-updated"
          ),
      );
      stream.close();
      c.close();
    });

    await t.step("HTTPS listener starts when core.https_address is set, without a restart", async () => {
      assert.equal((await m.shoal(["config", "set", "core.https_address", "127.0.0.21:8443"])).code, 0);
      const untrusted = await run("curl", ["-sk", "https://127.0.0.21:8443/1.0"]);
      const body = JSON.parse(untrusted.stdout);
      assert.equal(body.metadata.auth, "untrusted");
      assert.equal(body.metadata.config, undefined);
      const denied = await run("curl", [
        "-sk",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "https://127.0.0.21:8443/1.0/certificates",
      ]);
      assert.equal(denied.stdout, "403");
    });

    await t.step("a remote client is trusted with the password, over pinned mutual TLS", async () => {
      const env = { SHOAL_CONF: `${tmp.path}/client1` };
      const wrong = await m.shoal([
        "remote",
        "add",
        "srv",
        "127.0.0.21",
        "--accept-certificate",
        "--password",
        "nope",
      ], { env });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /not authorized/);
      const ok = await m.shoal([
        "remote",
        "add",
        "srv",
        "127.0.0.21",
        "--accept-certificate",
        "--password",
        "sekret",
      ], { env });
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /Client certificate now trusted by server: srv/);
      const info = await m.shoal(["config", "get", "srv:user.c"], { env });
      assert.equal(info.stdout, "3\n", info.stderr);
      const certs = await m.shoal(["config", "trust", "list", "--format", "csv"]);
      assert.equal(certs.stdout.trim().split("\n").length, 1);
    });

    await t.step("a certificate add token is single-use", async () => {
      const tok = await m.shoal(["config", "trust", "add", "--name", "laptop", "--quiet"]);
      assert.equal(tok.code, 0, tok.stderr);
      const token = tok.stdout.trim();
      const decoded = JSON.parse(atob(token));
      assert.equal(decoded.client_name, "laptop");
      assert.deepEqual(decoded.addresses, ["127.0.0.21:8443"]);
      const listed = await m.shoal(["config", "trust", "list-tokens", "--format", "csv"]);
      assert.match(listed.stdout, /^laptop,/);
      const add = await m.shoal(["remote", "add", "tok", token], {
        env: { SHOAL_CONF: `${tmp.path}/client2` },
      });
      assert.equal(add.code, 0, add.stderr);
      const again = await m.shoal(["remote", "add", "tok", token], {
        env: { SHOAL_CONF: `${tmp.path}/client3` },
      });
      assert.equal(again.code, 1);
      assert.match(again.stderr, /No matching certificate add operation found/);
      const names = (await m.shoal(["config", "trust", "list", "--format", "csv"])).stdout;
      assert.match(names, /laptop/);
    });

    await t.step("certificates: show and delete; a deleted client is no longer trusted", async () => {
      const env = { SHOAL_CONF: `${tmp.path}/client1` };
      const fp = (await run("sh", [
        "-c",
        `openssl x509 -in "${tmp.path}/client1/client.crt" -noout -fingerprint -sha256`,
      ]))
        .stdout.trim().replace(/^.*=/, "").replaceAll(":", "").toLowerCase();
      assert.match(fp, /^[0-9a-f]{64}$/);
      const c = m.client();
      try {
        const cert = await c.get<{ fingerprint: string; type: string; certificate: string }>(
          `/1.0/certificates/${fp}`,
        );
        assert.equal(cert.fingerprint, fp);
        assert.equal(cert.type, "client");
        assert.match(cert.certificate, /^-----BEGIN CERTIFICATE-----/);
        assert.equal((await m.shoal(["query", "srv:/1.0/certificates"], { env })).code, 0);
        assert.equal((await m.shoal(["config", "trust", "remove", fp])).code, 0);
        await assert.rejects(
          c.get(`/1.0/certificates/${fp}`),
          (e: Error & { status?: number }) => e.status === 404,
        );
        const denied = await m.shoal(["query", "srv:/1.0/certificates"], { env });
        assert.equal(denied.code, 1);
        assert.equal(denied.stderr, "Error: not authorized\n");
        assert.match((await m.shoal(["info", "srv:"], { env })).stdout, /auth: untrusted/);
      } finally {
        c.close();
      }
    });

    await t.step(
      "GET /1.0 environment: the server's certificate, fingerprint, name, version, addresses",
      async () => {
        const c = m.client();
        try {
          const s = await c.get<Server>("/1.0");
          const env = s.environment!;
          assert.equal(env.certificate, await Deno.readTextFile(`${m.dir}/server.crt`));
          const fp = (await run("openssl", [
            "x509",
            "-in",
            `${m.dir}/server.crt`,
            "-noout",
            "-fingerprint",
            "-sha256",
          ]))
            .stdout.trim().replace(/^.*=/, "").replaceAll(":", "").toLowerCase();
          assert.equal(env.certificate_fingerprint, fp);
          assert.equal(env.server_name, Deno.hostname());
          assert.equal(env.server_version, VERSION);
          assert.deepEqual(env.addresses, ["127.0.0.21:8443"]);
          assert.equal(s.api_version, "1.0");
          assert.equal(new Set(s.api_extensions).size, s.api_extensions.length);
          assert.ok(s.api_extensions.includes("etag") && s.api_extensions.includes("certificate_token"));
        } finally {
          c.close();
        }
      },
    );

    await t.step("operations: an event, list, wait with a timeout, cancel a token", async () => {
      const c = m.client();
      const seen: Event[] = [];
      const stream = await c.events(["operation"], (e) => seen.push(e));
      await stream.ready;
      try {
        const r = await c.request<{ id: string }>("POST", "/1.0/certificates", {
          body: { name: "x", type: "client", token: true },
        });
        assert.equal(r.status, 202);
        const id = r.metadata.id;
        await waitFor(
          "the token's operation event",
          () => seen.some((e) => e.type === "operation" && (e.metadata as { id?: string }).id === id),
        );
        stream.close();
        const list = await m.shoal(["operation", "list", "--format", "csv"]);
        assert.match(list.stdout, new RegExp(`^${id},TOKEN,Certificate add token,RUNNING,YES,`, "m"));
        const t0 = Date.now();
        const waited = await c.get<{ status: string }>(`/1.0/operations/${id}/wait?timeout=1`);
        assert.equal(waited.status, "Running");
        assert.ok(Date.now() - t0 >= 900);
        assert.equal((await m.shoal(["operation", "delete", id])).code, 0);
        assert.equal((await c.get<{ status: string }>(`/1.0/operations/${id}`)).status, "Cancelled");
      } finally {
        c.close();
      }
    });

    await t.step("core.https_address moves to a new address while running", async () => {
      assert.equal((await m.shoal(["config", "set", "core.https_address", "127.0.0.22:8443"])).code, 0);
      const moved = await run("curl", ["-sk", "https://127.0.0.22:8443/1.0"]);
      assert.equal(JSON.parse(moved.stdout).metadata.auth, "untrusted");
      await waitFor(
        "the old listener to close",
        async () => (await run("curl", ["-sk", "https://127.0.0.21:8443/1.0"])).code !== 0,
      );
      const bad = await m.shoal(["config", "set", "core.https_address", "192.0.2.1:8443"]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /Cannot listen on https socket/);
      assert.equal((await m.shoal(["config", "get", "core.https_address"])).stdout, "127.0.0.22:8443\n");
    });

    await t.step("shutdown lets a request in flight finish, then the daemon exits", async () => {
      const c = m.client();
      const r = await c.request<{ id: string }>("POST", "/1.0/certificates", {
        body: { name: "y", type: "client", token: true },
      });
      const waiting = c.raw("GET", `/1.0/operations/${r.metadata.id}/wait?timeout=2`);
      await new Promise((res) => setTimeout(res, 200));
      m.expectExit();
      const sd = await m.shoald(["shutdown"]);
      assert.equal(sd.code, 0, sd.stderr);
      const answered = await waiting;
      assert.equal(answered.status, 200);
      c.close();
      const st = await m.process!.status;
      assert.equal(st.code, 0);
      m.process = null;
      await assert.rejects(Deno.stat(m.socket));
    });
  } finally {
    await m.stop();
  }
});

Deno.test("SIGTERM stops the daemon gracefully and a restart keeps its state and listeners", async () => {
  await using tmp = await tempDir("restart");
  const m = await new Member(`${tmp.path}/m1`).start();
  assert.equal(
    (await m.shoal(["config", "set", "user.kept=yes", "core.https_address=127.0.0.28:8443"])).code,
    0,
  );
  const fp = (await m.client().get<Server>("/1.0")).environment!.certificate_fingerprint;
  const st = await m.stop();
  assert.equal(st?.code, 0);
  await m.start();
  try {
    assert.equal((await m.shoal(["config", "get", "user.kept"])).stdout, "yes\n");
    // The HTTPS listener comes back at start, with the same certificate.
    const again = await run("curl", ["-sk", "https://127.0.0.28:8443/1.0"]);
    assert.equal(JSON.parse(again.stdout).metadata.auth, "untrusted");
    const c = m.client();
    assert.equal((await c.get<Server>("/1.0")).environment!.certificate_fingerprint, fp);
    c.close();
    const second = await run("sh", [
      "-c",
      `SHOAL_DIR=${m.dir} timeout 20 ${new URL("../../bin/shoald", import.meta.url).pathname}`,
    ]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /already running/);
  } finally {
    await m.stop();
  }
});

Deno.test("waitready fails clearly when no daemon runs", async () => {
  await using tmp = await tempDir("noready");
  const m = new Member(`${tmp.path}/none`);
  await Deno.mkdir(m.dir);
  const r = await m.shoald(["waitready", "--timeout", "1"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Daemon still not running after 1s timeout/);
  const c = new Client({ kind: "unix", path: m.socket });
  await assert.rejects(c.get("/1.0"));
  c.close();
});

/** Starts `bin/shoal ARGS` in the background and collects its stdout. */
function spawnShoal(m: Member, args: string[]) {
  return spawnBackground(SHOAL, args, m.env);
}

Deno.test("the shoal client: remotes, query, operations, monitor, formats and errors", async (t) => {
  await using tmp = await tempDir("client");
  const m = await new Member(`${tmp.path}/m1`).start();
  try {
    const listen = await m.shoal(["config", "set", "core.https_address", "127.0.0.24:8443"]);
    assert.equal(listen.code, 0, listen.stderr);

    await t.step("remote get-default and remote list, drawn as lxc draws them", async () => {
      assert.equal((await m.shoal(["remote", "get-default"])).stdout, "local\n");
      const table = await m.shoal(["remote", "list"]);
      assert.equal(
        table.stdout,
        [
          "+-----------------+---------+----------+-------------+--------+--------+--------+",
          "|      NAME       |   URL   | PROTOCOL |  AUTH TYPE  | PUBLIC | STATIC | GLOBAL |",
          "+-----------------+---------+----------+-------------+--------+--------+--------+",
          "| local (current) | unix:// | lxd      | file access | NO     | YES    | NO     |",
          "+-----------------+---------+----------+-------------+--------+--------+--------+",
          "",
        ].join("\n"),
      );
      assert.equal(
        (await m.shoal(["remote", "list", "-f", "csv"])).stdout,
        "local (current),unix://,lxd,file access,NO,YES,NO\n",
      );
      const json = JSON.parse((await m.shoal(["remote", "list", "--format", "json"])).stdout);
      assert.equal(json.local.addr, "unix://");
      assert.match(
        (await m.shoal(["remote", "list", "--format", "yaml"])).stdout,
        /^local:\n {2}addr: unix:\/\//,
      );
      assert.match(
        (await m.shoal(["remote", "list", "--format", "compact"])).stdout,
        /^ +NAME +URL +PROTOCOL/,
      );
    });

    await t.step("remote add, switch, get-default, remove", async () => {
      assert.equal((await m.shoal(["config", "set", "core.trust_password", "pw"])).code, 0);
      const add = await m.shoal([
        "remote",
        "add",
        "me",
        "127.0.0.24",
        "--accept-certificate",
        "--password",
        "pw",
      ]);
      assert.equal(add.code, 0, add.stderr);
      assert.equal((await m.shoal(["remote", "switch", "me"])).code, 0);
      assert.equal((await m.shoal(["remote", "get-default"])).stdout, "me\n");
      assert.match(
        (await m.shoal(["remote", "list", "-f", "csv"])).stdout,
        /^me \(current\),https:\/\/127\.0\.0\.24:8443,lxd,tls,NO,NO,NO$/m,
      );
      // The default remote now answers over mutual TLS.
      assert.match((await m.shoal(["info"])).stdout, /auth: trusted/);
      const rmDefault = await m.shoal(["remote", "remove", "me"]);
      assert.equal(rmDefault.code, 1);
      assert.equal(rmDefault.stderr, "Error: Can't remove the default remote\n");
      assert.equal((await m.shoal(["remote", "switch", "local"])).code, 0);
      assert.equal((await m.shoal(["remote", "remove", "me"])).code, 0);
      assert.doesNotMatch((await m.shoal(["remote", "list", "-f", "csv"])).stdout, /^me/m);
    });

    await t.step("remote add without flags shows the fingerprint and asks, as lxc does", async () => {
      const fp = (await m.client().get<Server>("/1.0")).environment!.certificate_fingerprint;
      const env = { SHOAL_CONF: `${tmp.path}/asked` };
      const nack = await m.shoal(["remote", "add", "asked", "127.0.0.24"], { env, stdin: "n\n" });
      assert.equal(nack.code, 1);
      assert.match(
        nack.stdout,
        new RegExp(`^Certificate fingerprint: ${fp}\nok \\(y/n/\\[fingerprint\\]\\)\\? `),
      );
      assert.equal(nack.stderr, "Error: Server certificate NACKed by user\n");
      const yes = await m.shoal(["remote", "add", "asked", "127.0.0.24"], { env, stdin: `${fp}\npw\n` });
      assert.equal(yes.code, 0, yes.stderr);
      assert.match(yes.stdout, /Admin password \(or token\) for asked: /);
      assert.match(yes.stdout, /Client certificate now trusted by server: asked/);
      assert.match((await m.shoal(["info", "asked:"], { env })).stdout, /auth: trusted/);
    });

    await t.step("config edit takes YAML on stdin", async () => {
      const shown = (await m.shoal(["config", "show"])).stdout;
      const edited = shown.replace(/^config:\n/, "config:\n  user.edited: by-edit\n");
      const r = await m.shoal(["config", "edit"], { stdin: edited });
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await m.shoal(["config", "get", "user.edited"])).stdout, "by-edit\n");
      const bad = await m.shoal(["config", "edit"], { stdin: "config:\n  nope.key: 1\n" });
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /^Error: cannot set 'nope.key' to '1': unknown key/);
      assert.equal((await m.shoal(["config", "get", "user.edited"])).stdout, "by-edit\n");
    });

    await t.step("query -X -d sends a raw request; errors are Error: lines with exit 1", async () => {
      const put = await m.shoal(["query", "-X", "PATCH", "-d", '{"config":{"user.q":"raw"}}', "/1.0"]);
      assert.equal(put.code, 0, put.stderr);
      assert.equal((await m.shoal(["config", "get", "user.q"])).stdout, "raw\n");
      const got = JSON.parse((await m.shoal(["query", "/1.0"])).stdout);
      assert.equal(got.config["user.q"], "raw");
      const wrong = await m.shoal(["query", "-X", "POST", "/1.0"]);
      assert.equal(wrong.code, 1);
      assert.equal(wrong.stderr, 'Error: Method "POST" not found\n');
      const bad = await m.shoal(["query", "-X", "PUT", "-d", "{nope", "/1.0"]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /^Error: Invalid JSON body: /);
    });

    await t.step("operation list, show and delete", async () => {
      const tok = await m.shoal(["config", "trust", "add", "--name", "ops", "--quiet"]);
      assert.equal(tok.code, 0, tok.stderr);
      const list = JSON.parse((await m.shoal(["operation", "list", "--format", "json"])).stdout);
      assert.equal(list.length, 1);
      const id = list[0].id;
      const listed = await m.shoal(["operation", "list"]);
      assert.equal(listed.code, 0, listed.stderr);
      const table = listed.stdout;
      assert.match(
        table,
        /\|\s+ID\s+\|\s+TYPE\s+\|\s+DESCRIPTION\s+\|\s+STATUS\s+\|\s+CANCELABLE\s+\|\s+CREATED\s+\|/,
      );
      assert.match(
        table,
        new RegExp(`\\| ${id} \\| TOKEN \\| Certificate add token \\| RUNNING \\| YES +\\|`),
      );
      const show = await m.shoal(["operation", "show", id]);
      assert.equal(show.code, 0, show.stderr);
      assert.match(show.stdout, new RegExp(`^id: ${id}$`, "m"));
      assert.match(show.stdout, /^class: token$/m);
      assert.match(show.stdout, /^status: Running$/m);
      assert.equal((await m.shoal(["operation", "delete", id])).code, 0);
      assert.match((await m.shoal(["operation", "show", id])).stdout, /^status: Cancelled$/m);
      const missing = await m.shoal(["operation", "show", "no-such-operation"]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /^Error: .*not found/);
    });

    await t.step("monitor --type filters on the server; --format json and pretty", async () => {
      const lifecycle = spawnShoal(m, ["monitor", "--type", "lifecycle", "--format", "json"]);
      const logging = spawnShoal(m, ["monitor", "--type", "logging"]);
      const pretty = spawnShoal(m, ["monitor", "--pretty"]);
      const address = (await m.shoal(["config", "get", "core.https_address"])).stdout.trim();
      const stranger = await Deno.makeTempDir({ prefix: "shoal-stranger-" });
      try {
        // Each monitor is connected once an event reaches it: keep causing events until all three have
        // one (a wrong trust password makes the warning the logging monitor waits for). Stopping a
        // monitor that is still starting would test the machine's load, not the client.
        let i = 0;
        await waitFor(
          "a lifecycle event in JSON and in the pretty format, and a warning",
          async () => {
            await m.shoal(["config", "set", "user.mon", String(i++)]);
            if (!/Bad trust password/.test(logging.output)) {
              const wrong = await m.shoal([
                "remote",
                "add",
                "bad",
                address,
                "--accept-certificate",
                "--password",
                "no",
              ], { env: { SHOAL_CONF: stranger } }); // a client whose certificate is not trusted yet
              assert.equal(wrong.code, 1, wrong.stderr);
            }
            const json = lifecycle.output.split("\n").some((l) =>
              l !== "" && JSON.parse(l).metadata?.action === "config-updated"
            );
            return json && /LIFECYCLE \[.*\] config-updated \/1\.0/.test(pretty.output) &&
              /Bad trust password/.test(logging.output);
          },
          60_000,
          300,
        );
        assert.doesNotMatch(lifecycle.output, /"type":"logging"/);
        assert.doesNotMatch(logging.output, /lifecycle/);
      } finally {
        for (const mon of [lifecycle, logging, pretty]) assert.equal((await mon.stop()).status.code, 0);
        await Deno.remove(stranger, { recursive: true });
      }
      const bad = await m.shoal(["monitor", "--type", "nonsense"]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /^Error: .*"nonsense" isn't a supported event type/);
    });

    await t.step("--format is checked, and other mistakes are Error: lines with exit 1", async () => {
      const cases: [string[], RegExp][] = [
        [
          ["operation", "list", "--format", "xml"],
          /^Error: option '-f, --format <format>' argument 'xml' is invalid/,
        ],
        [["config", "get", "nowhere:user.x"], /^Error: The remote "nowhere" doesn't exist/],
        [["no-such-command"], /^Error: unknown command 'no-such-command'/],
        [["config", "set", "user.a"], /^Error: Invalid key=value configuration: user.a/],
        [["remote", "switch", "nowhere"], /^Error: Remote nowhere doesn't exist/],
      ];
      for (const [args, err] of cases) {
        const r = await m.shoal(args);
        assert.equal(r.code, 1, args.join(" "));
        assert.match(r.stderr, err, args.join(" "));
      }
    });

    await t.step("version shows the client and the server", async () => {
      const r = await m.shoal(["version"]);
      assert.match(r.stdout, /^Client version: \d+\.\d+\.\d+\nServer version: \d+\.\d+\.\d+\n$/);
    });
  } finally {
    await m.stop();
  }
});

/** Starts bin/shoald FLAGS in dir with stderr kept in a file, as a user would run it. */
function startShoald(dir: string, flags: string[]): { process: Deno.ChildProcess; stderr: string } {
  const stderr = `${dir}.stderr`;
  const process = new Deno.Command("sh", {
    args: ["-c", `exec "$0" "$@" 2>"${stderr}"`, SHOALD, ...flags],
    env: { SHOAL_DIR: dir },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  return { process, stderr };
}

Deno.test("shoald: version, waitready --timeout, --verbose and --debug, logs in $SHOAL_DIR/logs, SIGINT", async (t) => {
  await using tmp = await tempDir("daemon");
  const dir = `${tmp.path}/m1`;
  await Deno.mkdir(dir);
  const env = { SHOAL_DIR: dir, SHOAL_CONF: `${dir}.conf` };

  await t.step("version", async () => {
    const r = await run(SHOALD, ["version"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
  });

  let d: ReturnType<typeof startShoald>;
  await t.step("waitready waits for a daemon that starts later; --verbose logs info to stderr", async () => {
    const waiting = run(SHOALD, ["waitready", "--timeout", "60"], { env, timeoutMs: 70_000 });
    await new Promise((r) => setTimeout(r, 1000));
    d = startShoald(dir, ["--verbose"]);
    const w = await waiting;
    assert.equal(w.code, 0, w.stderr);
    assert.equal((await run(SHOAL, ["info"], { env })).code, 0);
    const err = await Deno.readTextFile(d.stderr);
    assert.match(err, /level=info msg="Daemon started"/);
    assert.doesNotMatch(err, /level=debug/);
    const log = await Deno.readTextFile(`${dir}/logs/shoald.log`);
    assert.match(log, /level=info msg="Daemon started" socket=/);
  });

  await t.step("SIGINT stops it gracefully", async () => {
    d.process.kill("SIGINT");
    const st = await d.process.status;
    assert.equal(st.code, 0);
    await assert.rejects(Deno.stat(`${dir}/unix.socket`));
    assert.match(
      await Deno.readTextFile(`${dir}/logs/shoald.log`),
      /msg="Starting shutdown sequence" reason="received SIGINT"/,
    );
  });

  await t.step("without flags stderr gets warnings only; --debug logs every request", async () => {
    const quiet = startShoald(dir, []);
    assert.equal((await run(SHOALD, ["waitready", "--timeout", "30"], { env })).code, 0);
    assert.equal((await run(SHOAL, ["config", "set", "user.a", "1"], { env })).code, 0);
    const sd = await run(SHOALD, ["shutdown", "--timeout", "30"], { env });
    assert.equal(sd.code, 0, sd.stderr);
    assert.equal((await quiet.process.status).code, 0);
    assert.doesNotMatch(await Deno.readTextFile(quiet.stderr), /level=(info|debug)/);

    const loud = startShoald(dir, ["--debug"]);
    assert.equal((await run(SHOALD, ["waitready", "--timeout", "30"], { env })).code, 0);
    assert.equal((await run(SHOAL, ["config", "get", "user.a"], { env })).stdout, "1\n");
    loud.process.kill("SIGTERM");
    assert.equal((await loud.process.status).code, 0);
    const err = await Deno.readTextFile(loud.stderr);
    assert.match(err, /level=debug msg="Handling API request" ip=@ method=GET protocol=unix url=\/1\.0/);
    assert.match(await Deno.readTextFile(`${dir}/logs/shoald.log`), /level=debug msg="Handling API request"/);
  });

  await t.step("shutdown with no daemon fails clearly", async () => {
    const r = await run(SHOALD, ["shutdown"], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: Failed to shut down the daemon: /);
  });
});

/** Runs interactive `shoald init`, answering each prompt by what it asks (unknown yes/no: no). */
async function interactiveInit(env: Record<string, string>, answer: (prompt: string) => string | undefined) {
  const child = new Deno.Command(SHOALD, {
    args: ["init"],
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  const w = child.stdin.getWriter();
  const err = new Response(child.stderr).text();
  const dec = new TextDecoder();
  let out = "";
  let pending = "";
  const prompts: string[] = [];
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  for await (const chunk of child.stdout) {
    const text = dec.decode(chunk, { stream: true });
    out += text;
    pending += text;
    if (!/: $/.test(pending)) continue;
    const prompt = pending.split("\n").pop()!;
    pending = "";
    prompts.push(prompt);
    const a = answer(prompt) ?? (/\(yes\/no\)/.test(prompt) ? "no" : "");
    await w.write(new TextEncoder().encode(a + "\n"));
  }
  clearTimeout(timer);
  await w.close().catch(() => {});
  const st = await child.status;
  return { code: st.code, out, err: await err, prompts };
}

Deno.test("shoald init: interactive questions, --dump as preseed, --preseed and --auto", async (t) => {
  await using tmp = await tempDir("init");
  const m = await new Member(`${tmp.path}/m1`).start();
  try {
    await t.step("interactive init asks lxd init's questions and applies the answers", async () => {
      let again = 0;
      const r = await interactiveInit(m.env, (p) => {
        if (/available over the network\?/.test(p)) return "yes";
        if (/^Address to bind/.test(p)) return "127.0.0.25";
        if (/^Port to bind/.test(p)) return "8443";
        if (/^Trust password for new clients: $/.test(p)) return "pw1";
        if (/^Again: $/.test(p)) return again++ === 0 ? "typo" : "pw1";
        if (/stale cached images to be updated automatically\?/.test(p)) return "no";
        if (/YAML "lxd init" preseed to be printed\?/.test(p)) return "yes";
        return undefined; // lxd init's default
      });
      assert.equal(r.code, 0, r.err + r.out);
      assert.match(r.out, /Password mismatch, try again/);
      assert.equal(r.prompts.filter((p) => /^Trust password/.test(p)).length, 2);
      assert.match(r.out, /core\.https_address: 127\.0\.0\.25:8443/);
      assert.equal((await m.shoal(["config", "get", "core.https_address"])).stdout, "127.0.0.25:8443\n");
      assert.equal((await m.shoal(["config", "get", "images.auto_update_interval"])).stdout, "0\n");
      assert.match((await m.shoal(["query", "/1.0"])).stdout, /"core.trust_password": true/);
      const untrusted = await run("curl", ["-sk", "https://127.0.0.25:8443/1.0"]);
      assert.equal(JSON.parse(untrusted.stdout).metadata.auth, "untrusted");
      const add = await m.shoal([
        "remote",
        "add",
        "r",
        "127.0.0.25",
        "--accept-certificate",
        "--password",
        "pw1",
      ], {
        env: { SHOAL_CONF: `${tmp.path}/conf-r` },
      });
      assert.equal(add.code, 0, add.stderr);
    });

    let dump = "";
    await t.step("init --dump prints the configuration as a preseed, secrets left out", async () => {
      assert.equal((await m.shoal(["config", "set", "user.note", "kept: with a colon"])).code, 0);
      const r = await m.shoald(["init", "--dump"]);
      assert.equal(r.code, 0, r.stderr);
      dump = r.stdout;
      assert.match(dump, /^config:\n/);
      assert.match(dump, /^ {2}core\.https_address: 127\.0\.0\.25:8443$/m);
      assert.match(dump, /^ {2}images\.auto_update_interval: "0"$/m);
      assert.doesNotMatch(dump, /trust_password/);
    });

    await t.step("the dump seeds another member with --preseed", async () => {
      const m2 = await new Member(`${tmp.path}/m2`).start();
      try {
        const seed = dump.replace("127.0.0.25:8443", "127.0.0.26:8443");
        const r = await m2.shoald(["init", "--preseed"], { stdin: seed });
        assert.equal(r.code, 0, r.stderr);
        assert.equal((await m2.shoal(["config", "get", "user.note"])).stdout, "kept: with a colon\n");
        assert.equal((await m2.shoal(["config", "get", "images.auto_update_interval"])).stdout, "0\n");
        assert.equal((await m2.shoal(["config", "get", "core.https_address"])).stdout, "127.0.0.26:8443\n");
        assert.equal((await m2.shoald(["init", "--dump"])).stdout, seed);
      } finally {
        await m2.stop();
      }
    });

    await t.step("init --auto with flags", async () => {
      const m3 = await new Member(`${tmp.path}/m3`).start();
      try {
        const r = await m3.shoald([
          "init",
          "--auto",
          "--network-address",
          "127.0.0.27",
          "--trust-password",
          "auto",
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal((await m3.shoal(["config", "get", "core.https_address"])).stdout, "127.0.0.27:8443\n");
        const add = await m3.shoal([
          "remote",
          "add",
          "a",
          "127.0.0.27",
          "--accept-certificate",
          "--password",
          "auto",
        ], {
          env: { SHOAL_CONF: `${tmp.path}/conf-a` },
        });
        assert.equal(add.code, 0, add.stderr);
      } finally {
        await m3.stop();
      }
    });

    await t.step("init without a daemon says so", async () => {
      const r = await run(SHOALD, ["init", "--preseed"], {
        env: { SHOAL_DIR: `${tmp.path}/none` },
        stdin: "config: {}\n",
      });
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /^Error: Unable to talk to the daemon \(is shoald running on .*unix\.socket\?\)/,
      );
    });
  } finally {
    await m.stop();
  }
});

Deno.test("one executable: the name it is started as, or the first argument, picks the role", async () => {
  await using tmp = await tempDir("roles");
  const root = new URL("../../", import.meta.url).pathname;
  const env = { SHOAL_DIR: `${tmp.path}/none`, SHOAL_CONF: `${tmp.path}/conf` };
  const main = (args: string[]) =>
    run(Deno.execPath(), ["run", "-A", "--cached-only", "--quiet", `${root}main.ts`, ...args], { env });
  assert.match((await main(["shoald", "version"])).stdout, /^\d+\.\d+\.\d+\n$/);
  assert.match((await main(["lxd", "version"])).stdout, /^\d+\.\d+\.\d+\n$/);
  assert.match(
    (await main(["shoal", "version"])).stdout,
    /^Client version: .*\nServer version: unreachable\n$/,
  );
  const unknown = await main(["nobody"]);
  assert.equal(unknown.code, 2);
  assert.match(
    unknown.stderr,
    /^Error: unknown role "nobody": start shoal as shoald \(daemon\) or shoal \(client\)/,
  );
  // Links named like LXD's programs take those roles.
  await Deno.symlink(SHOALD, `${tmp.path}/lxd`);
  await Deno.symlink(SHOALD, `${tmp.path}/lxc`);
  assert.match((await run(`${tmp.path}/lxd`, ["version"], { env })).stdout, /^\d+\.\d+\.\d+\n$/);
  assert.match((await run(`${tmp.path}/lxc`, ["version"], { env })).stdout, /^Client version: /);
  assert.match((await run(`${tmp.path}/lxc`, ["--help"], { env })).stdout, /^Usage: lxc /);
  assert.match((await run(SHOAL, ["--help"], { env })).stdout, /^Usage: shoal /);
});

Deno.test("deno task compile builds the executable, or says plainly why it cannot", async () => {
  const root = new URL("../../", import.meta.url).pathname;
  const r = await run(Deno.execPath(), ["task", "--quiet", "--cwd", root, "compile"], { timeoutMs: 300_000 });
  if (r.code === 0) {
    assert.match(r.stdout, /compile: built dist\/shoald/);
    assert.match((await run(`${root}dist/shoald`, ["version"])).stdout, /^\d+\.\d+\.\d+\n$/);
  } else {
    assert.equal(r.code, 1);
    assert.match(r.stderr, /compile: deno could not build the executable here; it needs its denort runtime/);
  }
});

Deno.test("scripts/demo forms a three-member cluster, drives it with shoal and lxc, and survives kill -9 of the leader", async () => {
  const root = new URL("../../", import.meta.url).pathname;
  const r = await run(`${root}scripts/demo`, [], { timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^shoald ready in [\d.]+ s: three members/m);
  assert.match(r.stdout, /^cluster formed in [\d.]+ s/m);
  assert.equal(r.stdout.match(/\| ONLINE \| Fully operational \|/g)?.length, 6);
  assert.match(r.stdout, /Client certificate now trusted by server: demo/);
  assert.match(r.stdout, /^ {2}server_name: m2$/m);
  assert.ok(r.stdout.split("\n").includes("hello"), "a write on m3 is read on m1");
  assert.match(r.stdout, /^writes served again [\d.]+ s after kill -9 of the leader$/m);
  assert.match(r.stdout, /\| user\.after-failover \| yes/);
  assert.match(r.stdout, /demo done/);
});
