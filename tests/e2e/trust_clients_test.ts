/**
 * Restricted clients stay restricted, and no client makes itself a member (issue 11's findings,
 * each failing on the code before it): a restricted certificate is trusted, yet cannot change
 * the server, sees no certificate but its own, and reaches instances only in its projects; a
 * client cannot retype its certificate, nor add a server one. Address 127.0.0.62.
 */
import assert from "node:assert/strict";
import { Caller, newCert, trust } from "../helpers/callers.ts";
import { Member, tempDir } from "../helpers/member.ts";
import { fingerprint } from "../../lib/tls/mod.ts";

const AT = "127.0.0.62:8443";

Deno.test("restricted clients stay restricted; no client becomes a server", async (t) => {
  await using tmp = await tempDir("trust-clients");
  const m = await new Member(`${tmp.path}/m1`).start();
  const callers: Caller[] = [];
  try {
    assert.equal((await m.shoal(["config", "set", `core.https_address=${AT}`, "user.kept=yes"])).code, 0);
    const served = await Deno.readTextFile(`${m.dir}/server.crt`);
    const [u, r, rd] = await Promise.all(["u", "r", "rd"].map((n) => newCert(n)));
    await trust(m, "u", u!);
    await trust(m, "r", r!, { restricted: true, projects: [] });
    await trust(m, "rd", rd!, { restricted: true, projects: ["default"] });
    const [uf, rf, rdf] = await Promise.all([
      fingerprint(u!.cert),
      fingerprint(r!.cert),
      fingerprint(rd!.cert),
    ]);
    const as = (k: typeof u) => {
      const c = new Caller(AT, served, k);
      callers.push(c);
      return c;
    };
    const [cu, cr, crd] = [as(u), as(r), as(rd)];
    const config = async () => JSON.stringify(JSON.parse((await m.shoal(["query", "/1.0"])).stdout).config);
    const before = await config();

    await t.step("a restricted client is trusted, sees no server config, cannot change it", async () => {
      const info = JSON.parse((await cr.send("GET", "/1.0")).text).metadata;
      assert.equal(info.auth, "trusted");
      assert.deepEqual(info.config, {});
      for (const method of ["PUT", "PATCH"]) {
        const res = await cr.send(method, "/1.0", JSON.stringify({ config: { "user.kept": "no" } }));
        assert.equal(res.status, 403, res.text);
      }
      assert.equal(await config(), before);
      // Only a member's word on a forwarded caller counts: a client claiming the unix socket is ignored.
      assert.equal((await cr.send("PUT", "/1.0", "{}", { "X-Shoal-Caller": "unix" })).status, 403);
      assert.equal((await crd.send("PUT", "/1.0", "{}")).status, 403);
      assert.equal(
        (await crd.send("POST", "/1.0/storage-pools", JSON.stringify({ name: "p", driver: "dir" }))).status,
        403,
      );
      assert.equal(
        (await crd.send("PUT", "/1.0/cluster", JSON.stringify({ server_name: "x", enabled: true }))).status,
        403,
      );
    });

    await t.step("a restricted client sees and changes only its own certificate", async () => {
      for (const q of ["", "?recursion=1"]) {
        const res = await cr.send("GET", `/1.0/certificates${q}`);
        assert.equal(res.status, 200);
        assert.match(res.text, new RegExp(rf));
        assert.doesNotMatch(res.text, new RegExp(uf));
      }
      assert.equal((await cr.send("GET", `/1.0/certificates/${uf}`)).status, 403);
      assert.equal((await cr.send("DELETE", `/1.0/certificates/${uf}`)).status, 403);
      const lift = await cr.send("PATCH", `/1.0/certificates/${rf}`, JSON.stringify({ restricted: false }));
      assert.equal(lift.status, 403);
      assert.match(lift.text, /Only the certificate can be changed/);
      const widen = await cr.send(
        "PATCH",
        `/1.0/certificates/${rf}`,
        JSON.stringify({ projects: ["default"] }),
      );
      assert.equal(widen.status, 403);
      const other = await newCert("other");
      const add = await cr.send(
        "POST",
        "/1.0/certificates",
        JSON.stringify({ certificate: other.cert, name: "x" }),
      );
      assert.equal(add.status, 403);
      const token = await cr.send("POST", "/1.0/certificates", JSON.stringify({ token: true, name: "x" }));
      assert.equal(token.status, 403);
      const list = JSON.parse((await m.shoal(["query", "/1.0/certificates?recursion=1"])).stdout);
      assert.equal(list.length, 3);
      assert.equal(list.find((c: { fingerprint: string }) => c.fingerprint === rf).restricted, true);
    });

    await t.step("a restricted client reaches instances only in its projects", async () => {
      assert.equal((await cr.send("GET", "/1.0/instances")).status, 403);
      assert.equal((await cr.send("GET", "/1.0/instances?project=default")).status, 403);
      assert.equal((await cr.send("GET", "/1.0/profiles")).status, 403);
      assert.equal((await cr.upgrade("/1.0/events")).status, 403);
      assert.equal((await crd.send("GET", "/1.0/instances")).status, 200);
      assert.equal((await crd.send("GET", "/1.0/instances?project=other")).status, 403);
      const ev = await crd.upgrade("/1.0/events");
      assert.equal(ev.status, 101);
      ev.ws?.close();
      assert.equal((await crd.send("GET", "/1.0/certificates")).status, 200);
      assert.doesNotMatch((await crd.send("GET", "/1.0/certificates")).text, new RegExp(uf));
      assert.ok(rdf);
    });

    await t.step("a client renames its certificate but cannot make it a server's", async () => {
      assert.equal(
        (await cu.send("PATCH", `/1.0/certificates/${uf}`, JSON.stringify({ name: "u2" }))).status,
        200,
      );
      for (
        const [method, body] of [["PATCH", { type: "server" }], ["PUT", {
          name: "u2",
          type: "server",
        }]] as const
      ) {
        const res = await cu.send(method, `/1.0/certificates/${uf}`, JSON.stringify(body));
        assert.equal(res.status, 403, res.text);
        assert.match(res.text, /The certificate type cannot be changed/);
      }
      const other = await newCert("srv");
      const add = await cu.send(
        "POST",
        "/1.0/certificates",
        JSON.stringify({ type: "server", certificate: other.cert, name: "s" }),
      );
      assert.equal(add.status, 403);
      const unix = await m.client().request("POST", "/1.0/certificates", {
        body: { type: "server", certificate: other.cert, name: "s" },
      }).catch((e) => e);
      assert.equal(unix.status, 403);
      const mine = JSON.parse((await m.shoal(["query", `/1.0/certificates/${uf}`])).stdout);
      assert.equal(mine.type, "client");
      assert.equal(mine.name, "u2");
      assert.equal(JSON.parse((await m.shoal(["query", "/1.0/certificates"])).stdout).length, 3);
    });

    await t.step("certificate add tokens expire after a day by default, sooner when asked", async () => {
      const tokenOps = async () =>
        (JSON.parse((await m.shoal(["query", "/1.0/operations?recursion=1"])).stdout).running ?? [])
          .filter((o: { class: string; description: string }) =>
            o.class === "token" && o.description === "Certificate add token"
          );
      const before = Date.now();
      const add = await m.shoal(["config", "trust", "add", "--name", "t1"]);
      assert.equal(add.code, 0, add.stderr);
      const [op] = await tokenOps();
      const left = Date.parse(op.metadata.expiresAt) - before;
      assert.ok(left > 23.9 * 3600_000 && left < 24.1 * 3600_000, `a default token lives ${left} ms`);
      // Shortened, and used too late: refused, and nobody is trusted by it.
      assert.equal((await m.shoal(["config", "set", "core.remote_token_expiry", "1S"])).code, 0);
      const late = await m.shoal(["config", "trust", "add", "--name", "t2"]);
      assert.equal(late.code, 0, late.stderr);
      const token = late.stdout.trim().split("\n").at(-1)!;
      await new Promise((r) => setTimeout(r, 1500));
      const joiner = await newCert("late");
      const c = new Caller(AT, served, joiner);
      callers.push(c);
      const r = await c.send(
        "POST",
        "/1.0/certificates",
        JSON.stringify({ type: "client", password: token }),
      );
      assert.equal(r.status, 403, r.text);
      assert.match(r.text, /Token has expired/);
      assert.equal((await m.shoal(["config", "unset", "core.remote_token_expiry"])).code, 0);
    });

    await t.step("bad certificate requests get LXD's refusals", async () => {
      const c = await newCert("bad");
      const bad = async (body: unknown, status: number, msg: RegExp) => {
        const e = await m.client().request("POST", "/1.0/certificates", { body }).catch((x) => x);
        assert.equal(e.status, status, String(e.message));
        assert.match(e.message, msg);
      };
      await bad(
        { certificate: c.cert, projects: ["default"] },
        400,
        /Projects can only be specified for restricted/,
      );
      await bad(
        { certificate: c.cert, restricted: true, projects: ["nope"] },
        400,
        /Project "nope" not found/,
      );
      await bad({ certificate: c.cert, name: "-x" }, 400, /must not start with a hyphen/);
      await bad({ certificate: c.cert, restricted: "yes" }, 400, /Invalid "restricted"/);
      await bad({ certificate: 42 }, 400, /Invalid "certificate"/);
      // A fingerprint prefix is hex: SQL's wildcards match nothing (the first certificate went).
      const fps = JSON.parse((await m.shoal(["query", "/1.0/certificates"])).stdout) as string[];
      const one = fps[0]!.split("/").at(-1)!;
      // "_" then the rest of one fingerprint: a pattern only that one matches.
      for (const wild of ["%25", "_", `_${one.slice(1, 12)}`, `%25${one.slice(4, 12)}`]) {
        const e = await m.client().request("DELETE", `/1.0/certificates/${wild}`).catch((x) => x);
        assert.equal(e.status, 404, `DELETE /1.0/certificates/${wild}: ${e.message}`);
      }
      assert.equal(JSON.parse((await m.shoal(["query", "/1.0/certificates"])).stdout).length, 3);
    });
  } finally {
    for (const c of callers) c.close();
    await m.stop();
  }
});
