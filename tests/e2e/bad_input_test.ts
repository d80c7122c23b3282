/**
 * Bad input against a real daemon: every case gets LXD's error envelope with the right status,
 * changes nothing, and leaves the daemon serving. Requests are sent with curl over the unix
 * socket and over HTTPS, so nothing of our client smooths them. Address: 127.0.0.23.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../lib/tls/mod.ts";
import { Member, run, tempDir } from "../helpers/member.ts";

const ADDR = "127.0.0.23:8443";

interface Answer {
  status: number;
  body: { type: string; error: string; error_code: number; metadata: unknown };
}

/** curl ARGS, answering the HTTP status and the parsed JSON envelope. */
async function curl(args: string[], stdin?: string): Promise<Answer> {
  const r = await run("curl", ["-sS", "-o", "-", "-w", "\n%{http_code}", ...args], { stdin });
  assert.equal(r.code, 0, `curl ${args.join(" ")}: ${r.stderr}`);
  const i = r.stdout.lastIndexOf("\n");
  const text = r.stdout.slice(0, i);
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`not JSON from curl ${args.join(" ")}: ${text.slice(0, 300)}`);
  }
  return { status: Number(r.stdout.slice(i + 1)), body };
}

function assertError(a: Answer, status: number, message: RegExp): void {
  assert.equal(a.status, status, JSON.stringify(a.body));
  assert.equal(a.body.type, "error");
  assert.equal(a.body.error_code, status);
  assert.match(a.body.error, message);
}

Deno.test("bad input is refused in LXD's style, changes nothing and never brings the daemon down", async (t) => {
  await using tmp = await tempDir("bad-input");
  const m = await new Member(`${tmp.path}/m1`).start();
  const unix = (...args: string[]) =>
    curl(["--unix-socket", m.socket, ...args.slice(0, -1), `http://shoal${args.at(-1)}`]);
  const configNow = async () => JSON.stringify((await unix("/1.0")).body.metadata);
  try {
    assert.equal((await m.shoal(["config", "set", "user.kept=yes", `core.https_address=${ADDR}`])).code, 0);
    assert.equal((await m.shoal(["config", "set", "core.trust_password", "right"])).code, 0);
    const before = await configNow();

    await t.step("malformed JSON: 400 naming the parser's complaint", async () => {
      const a = await unix("-X", "PUT", "-H", "Content-Type: application/json", "-d", '{"config": {', "/1.0");
      assertError(a, 400, /^Invalid JSON body: /);
      const notObject = await unix(
        "-X",
        "PATCH",
        "-H",
        "Content-Type: application/json",
        "-d",
        '"x"',
        "/1.0",
      );
      assertError(notObject, 400, /expected a JSON object/);
      const badValue = await unix(
        "-X",
        "PATCH",
        "-H",
        "Content-Type: application/json",
        "-d",
        '{"config":[1]}',
        "/1.0",
      );
      assertError(badValue, 400, /Invalid "config"/);
      assert.equal(await configNow(), before);
    });

    await t.step("a body is read as JSON whatever its Content-Type, as LXD reads it", async () => {
      // curl -d sends application/x-www-form-urlencoded: LXD decodes the body as JSON anyway.
      const same = await unix("-X", "PATCH", "-d", '{"config":{"user.kept":"yes"}}', "/1.0");
      assert.equal(same.status, 200, JSON.stringify(same.body));
      const typed = await unix(
        "-X",
        "PATCH",
        "-H",
        "Content-Type: text/plain",
        "-d",
        '{"config":[1]}',
        "/1.0",
      );
      assertError(typed, 400, /Invalid "config"/);
      const form = await unix("-X", "PATCH", "-d", "config=1", "/1.0");
      assertError(form, 400, /^Invalid JSON body: /);
      assert.equal(await configNow(), before);
    });

    await t.step("a body over the size limit: 413, whether declared or streamed", async () => {
      const big = `${tmp.path}/big.json`;
      await Deno.writeTextFile(big, `{"config":{"user.big":"${"x".repeat(9 * 1024 * 1024)}"}}`);
      const declared = await unix(
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        `@${big}`,
        "/1.0",
      );
      assertError(declared, 413, /Request body is too large: the limit is 8 MiB/);
      const chunked = await unix(
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/json",
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        `@${big}`,
        "/1.0",
      );
      assertError(chunked, 413, /too large/);
      assert.equal(await configNow(), before);
    });

    await t.step("unknown paths and methods: 404 as LXD words them", async () => {
      assertError(await unix("/1.0/nothing-here"), 404, /^not found$/);
      assertError(await unix("/2.0"), 404, /^not found$/);
      assertError(await unix("-X", "POST", "/1.0"), 404, /^Method "POST" not found$/);
      assertError(await unix("-X", "DELETE", "/1.0"), 404, /^Method "DELETE" not found$/);
      assertError(await unix("-X", "PUT", "/1.0/operations/abc"), 404, /^Method "PUT" not found$/);
      assertError(await unix("/1.0/operations/no-such-op"), 404, /not found/);
      assert.equal(await configNow(), before);
    });

    await t.step("no client certificate: public parts only, 403 for the rest", async () => {
      const info = await curl(["-k", `https://${ADDR}/1.0`]);
      assert.equal(info.status, 200);
      assert.equal((info.body.metadata as { auth: string }).auth, "untrusted");
      assert.equal((info.body.metadata as { config?: unknown }).config, undefined);
      assertError(await curl(["-k", `https://${ADDR}/1.0/certificates`]), 403, /^not authorized$/);
      assertError(await curl(["-k", `https://${ADDR}/1.0/operations`]), 403, /^not authorized$/);
      // The event stream too, asked as a websocket upgrade or as a plain GET.
      const upgrade = [
        "-H",
        "Connection: Upgrade",
        "-H",
        "Upgrade: websocket",
        "-H",
        "Sec-WebSocket-Version: 13",
        "-H",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      ];
      assertError(await curl(["-k", ...upgrade, `https://${ADDR}/1.0/events`]), 403, /^not authorized$/);
      assertError(await curl(["-k", `https://${ADDR}/1.0/events`]), 403, /^not authorized$/);
      assertError(
        await unix(...upgrade, "/1.0/events?type=nonsense"),
        400,
        /"nonsense" isn't a supported event type/,
      );
      assertError(
        await curl([
          "-k",
          "-X",
          "PATCH",
          "-H",
          "Content-Type: application/json",
          "-d",
          '{"config":{"user.kept":"no"}}',
          `https://${ADDR}/1.0`,
        ]),
        403,
        /^not authorized$/,
      );
      assertError(
        await curl([
          "-k",
          "-X",
          "POST",
          "-H",
          "Content-Type: application/json",
          "-d",
          '{"type":"client"}',
          `https://${ADDR}/1.0/certificates`,
        ]),
        403,
        /^not authorized$/,
      );
      assert.equal(await configNow(), before);
    });

    const stranger = await generateKeyPair({ cn: "stranger", kind: "client" });
    await Deno.writeTextFile(`${tmp.path}/stranger.crt`, stranger.cert);
    await Deno.writeTextFile(`${tmp.path}/stranger.key`, stranger.key);
    const asStranger = (...args: string[]) =>
      curl(["-k", "--cert", `${tmp.path}/stranger.crt`, "--key", `${tmp.path}/stranger.key`, ...args]);

    await t.step("an untrusted client certificate: 403, and it is not added", async () => {
      const info = await asStranger(`https://${ADDR}/1.0`);
      assert.equal((info.body.metadata as { auth: string }).auth, "untrusted");
      assertError(await asStranger(`https://${ADDR}/1.0/certificates`), 403, /^not authorized$/);
      assertError(
        await asStranger(
          "-X",
          "PUT",
          "-H",
          "Content-Type: application/json",
          "-d",
          '{"config":{}}',
          `https://${ADDR}/1.0`,
        ),
        403,
        /^not authorized$/,
      );
      const certs = await unix("/1.0/certificates");
      assert.deepEqual(certs.body.metadata, []);
      assert.equal(await configNow(), before);
    });

    await t.step("a wrong trust password: 403, slowed down, and guesses from one address queue", async () => {
      const post = (password: string) =>
        asStranger(
          "-X",
          "POST",
          "-H",
          "Content-Type: application/json",
          "-d",
          JSON.stringify({ type: "client", password }),
          `https://${ADDR}/1.0/certificates`,
        );
      let t0 = Date.now();
      assertError(await post("wrong"), 403, /^not authorized$/);
      assert.ok(Date.now() - t0 >= 900, `a wrong password was answered in ${Date.now() - t0} ms`);
      t0 = Date.now();
      const three = await Promise.all([post("guess1"), post("guess2"), post("guess3")]);
      for (const a of three) assertError(a, 403, /^not authorized$/);
      assert.ok(Date.now() - t0 >= 2700, `three parallel guesses took only ${Date.now() - t0} ms`);
      assert.deepEqual((await unix("/1.0/certificates")).body.metadata, []);
      const log = await Deno.readTextFile(`${m.dir}/logs/shoald.log`);
      assert.match(log, /level=warning msg="Bad trust password" ip=127\.0\.0\.\d+:\d+/);
      // The right password still works afterwards.
      const ok = await post("right");
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      assert.equal((await asStranger(`https://${ADDR}/1.0`)).body.metadata && true, true);
    });

    await t.step("a broken preseed: named error, exit 1, nothing applied", async () => {
      const cases: [string, RegExp][] = [
        ["config: [unclosed", /^Error: Failed to parse the preseed: /m],
        ["- just\n- a list\n", /^Error: Failed to parse the preseed: expected a YAML mapping/m],
        [
          "config:\n  user.kept: changed\nmystery: {}\n",
          /^Error: Failed to parse the preseed: unknown section "mystery"/m,
        ],
        [
          "config:\n  user.kept: changed\nprojects:\n- name: p1\n",
          /^Error: The preseed section "projects" is not supported yet/m,
        ],
        [
          "config:\n  user.kept: changed\n  core.no_such_key: 1\n",
          /^Error: cannot set 'core.no_such_key' to '1': unknown key/m,
        ],
        ["config:\n  user.kept: changed\n  images.auto_update_interval: soon\n", /invalid integer/],
      ];
      for (const [text, err] of cases) {
        const r = await m.shoald(["init", "--preseed"], { stdin: text });
        assert.equal(r.code, 1, `${text}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, err, text);
        assert.equal((await m.shoal(["config", "get", "user.kept"])).stdout, "yes\n", text);
      }
    });

    await t.step("the daemon is still up and unchanged after all of it", async () => {
      const info = await unix("/1.0");
      assert.equal(info.status, 200);
      const config = (info.body.metadata as { config: Record<string, unknown> }).config;
      assert.equal(config["user.kept"], "yes");
      assert.equal(config["user.big"], undefined);
      assert.equal(m.process !== null, true);
      const log = await Deno.readTextFile(`${m.dir}/logs/shoald.log`);
      assert.doesNotMatch(log, /level=error/);
    });
  } finally {
    await m.stop();
  }
});
