/**
 * The foundation end to end: a real daemon from the launcher, our client over the unix socket,
 * HTTPS with client certificates, trust by password and token, operations, events and graceful
 * shutdown. The real lxc client is tested in tests/compat/. Addresses: 127.0.0.21-22.
 */
import assert from "node:assert/strict";
import { Client } from "../../lib/client/mod.ts";
import type { Event, Server } from "../../lib/wire/mod.ts";
import { Member, run, tempDir, waitFor } from "../helpers/member.ts";

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

    await t.step("operations: list, wait with a timeout, cancel a token", async () => {
      const c = m.client();
      try {
        const r = await c.request<{ id: string }>("POST", "/1.0/certificates", {
          body: { name: "x", type: "client", token: true },
        });
        assert.equal(r.status, 202);
        const id = r.metadata.id;
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

Deno.test("SIGTERM stops the daemon gracefully and a restart keeps its state", async () => {
  await using tmp = await tempDir("restart");
  const m = await new Member(`${tmp.path}/m1`).start();
  assert.equal((await m.shoal(["config", "set", "user.kept", "yes"])).code, 0);
  const st = await m.stop();
  assert.equal(st?.code, 0);
  await m.start();
  try {
    assert.equal((await m.shoal(["config", "get", "user.kept"])).stdout, "yes\n");
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
