/**
 * The cluster page at /ui/ in a real browser: Debian's headless chromium, holding a trusted
 * client certificate, shows a three-member cluster (127.0.0.173-175) with its leader, and a
 * member killed with -9 turns OFFLINE on the page without a reload. Another site's page
 * (127.0.0.176) cannot make the same browser write nor open the event stream. A browser holding an
 * untrusted certificate logs in with a trust token, as LXD's UI lets it. Skips, saying so,
 * when chromium or NSS's tools are missing.
 */
import assert from "node:assert/strict";
import { Chromium, HAVE_CHROMIUM } from "../helpers/chromium.ts";
import { Caller, newCert, trust } from "../helpers/callers.ts";
import { formCluster } from "../helpers/cluster.ts";
import { tempDir, waitFor } from "../helpers/member.ts";

if (!HAVE_CHROMIUM) {
  console.log(
    "tests/compat: chromium or libnss3-tools is not installed (scripts/setup installs them): skipping",
  );
}

const ADDRESSES = ["127.0.0.173", "127.0.0.174", "127.0.0.175"];
const EVIL = "127.0.0.176";
const UI = `https://${ADDRESSES[0]}:8443`;

const EVIL_PAGE = `<!doctype html><title>evil</title><script>
fetch("${UI}/1.0/profiles", { method: "POST", mode: "no-cors", credentials: "include",
  headers: { "Content-Type": "text/plain" }, body: JSON.stringify({ name: "evil" }) })
  .catch(() => {}).finally(() => {
    const ws = new WebSocket("wss://${ADDRESSES[0]}:8443/1.0/events");
    ws.onopen = () => (document.title = "ws-open");
    ws.onclose = () => { if (document.title !== "ws-open") document.title = "ws-refused"; };
  });
</script>`;

Deno.test({
  name: "ui: the cluster page in headless chromium with a client certificate",
  ignore: !HAVE_CHROMIUM,
  async fn(t) {
    await using tmp = await tempDir("ui");
    const members = await formCluster(tmp.path, ADDRESSES, {
      extraConfig: { "cluster.offline_threshold": "11" },
    });
    const [m1, , m3] = members;
    const cert = await newCert("browser");
    await trust(m1!, "browser", cert);
    const evil = Deno.serve(
      { hostname: EVIL, port: 8080, onListen: () => {} },
      () => new Response(EVIL_PAGE, { headers: { "Content-Type": "text/html" } }),
    );
    const served = JSON.parse((await m1!.shoal(["query", "/1.0"])).stdout).environment.certificate;
    const caller = new Caller(`${ADDRESSES[0]}:8443`, served, cert);
    const browser = await Chromium.start(`${tmp.path}/browser`, {
      cert: cert.cert,
      key: cert.key,
      origin: UI,
      url: `${UI}/ui/`,
    });
    try {
      const page = await browser.page();
      const rows = () =>
        page.eval<{ name: string; state: string; leader: boolean }[]>(
          `[...document.querySelectorAll("#members tbody tr")].map((r) => ({ name: r.dataset.member, state: r.dataset.state, leader: r.dataset.leader === "true" }))`,
        );

      await t.step("members, their state and the leader mark", async () => {
        const seen = await waitFor(
          "three ONLINE members and a leader on the page",
          async () => {
            const r = await rows();
            return r.length === 3 && r.every((m) => m.state === "ONLINE") && r.filter((m) =>
                  m.leader
                ).length === 1 &&
              r;
          },
          30_000,
          250,
        );
        assert.deepEqual(seen.map((m) => m.name).sort(), ["m1", "m2", "m3"]);
        // Raft health from the metrics, and the event stream open.
        await waitFor(
          "Raft table and live events",
          async () =>
            (await page.eval<number>(`document.querySelectorAll("#raft-table tbody tr").length`)) === 3 &&
            (await page.eval<string>(`document.getElementById("events-state").textContent`)) === "live",
          20_000,
          250,
        );
        const png = await page.screenshot();
        assert.deepEqual([...png.slice(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
        await Deno.writeFile(`${tmp.path}/page.png`, png);
      });

      await t.step("a member killed with -9 turns OFFLINE without a reload", async () => {
        await page.eval(`window.__sameDocument = true`);
        await m3!.kill();
        await waitFor(
          "m3 OFFLINE on the page",
          async () => {
            const r = await rows();
            return r.find((m) => m.name === "m3")?.state === "OFFLINE";
          },
          60_000,
          500,
        );
        assert.equal(
          await page.eval<boolean>(`window.__sameDocument === true`),
          true,
          "the page was not reloaded",
        );
      });

      await t.step("another site's page cannot use the browser's certificate", async () => {
        const other = await browser.page("about:blank");
        // The browser's own record of what came back (an opaque answer hides it from the page).
        const statuses: number[] = [];
        const wsErrors: string[] = [];
        other.on((method, params) => {
          const p = params as { response?: { url: string; status: number }; errorMessage?: string };
          if (method === "Network.responseReceived" && p.response?.url.endsWith("/1.0/profiles")) {
            statuses.push(p.response.status);
          }
          if (method === "Network.webSocketFrameError") wsErrors.push(p.errorMessage ?? "");
        });
        await other.send("Network.enable");
        await other.send("Page.navigate", { url: `http://${EVIL}:8080/` });
        const title = await waitFor(
          "the other site's page done",
          async () => {
            const t = await other.eval<string>("document.title");
            return t.startsWith("ws-") && t;
          },
          20_000,
          250,
        );
        assert.equal(title, "ws-refused");
        assert.deepEqual(statuses, [403]);
        assert.match(wsErrors.join(), /Unexpected response code: 403/);
        const profiles = JSON.parse((await m1!.shoal(["query", "/1.0/profiles"])).stdout) as string[];
        assert.ok(!profiles.some((p) => p.endsWith("/evil")), "no profile made from the other site");
        // The same refusal for any client claiming to be a browser on another site; not for this origin.
        const cross = await caller.send("GET", "/1.0/instances", undefined, {
          "Sec-Fetch-Site": "cross-site",
        });
        assert.equal(cross.status, 403);
        const origin = await caller.send("GET", "/1.0/instances", undefined, {
          Origin: `http://${EVIL}:8080`,
        });
        assert.equal(origin.status, 403);
        const same = await caller.send("GET", "/1.0/instances", undefined, {
          Origin: UI,
          "Sec-Fetch-Site": "same-origin",
        });
        assert.equal(same.status, 200);
      });

      await t.step("a browser with an untrusted certificate logs in with a trust token", async () => {
        const fresh = await newCert("newcomer");
        const other = await Chromium.start(`${tmp.path}/browser2`, {
          cert: fresh.cert,
          key: fresh.key,
          origin: UI,
          url: `${UI}/ui/`,
        });
        try {
          const page = await other.page();
          await waitFor(
            "the login form on an untrusted browser's page",
            async () => (await page.eval<boolean>(`!document.getElementById("login").hidden`)) && true,
            20_000,
            250,
          );
          assert.equal(await page.eval<number>(`document.querySelectorAll("#members tbody tr").length`), 0);
          // A wrong token: an error on the page, nothing trusted.
          await page.eval(`document.getElementById("token").value = "not-a-token";
            document.getElementById("token-form").requestSubmit(); true`);
          await waitFor(
            "the refusal on the page",
            async () =>
              (await page.eval<string>(`document.getElementById("login-error").textContent`)) !== "",
            20_000,
            250,
          );
          const tok = await m1!.shoal(["config", "trust", "add", "--name", "web", "--quiet"]);
          assert.equal(tok.code, 0, tok.stderr);
          await page.eval(`document.getElementById("token").value = ${JSON.stringify(tok.stdout.trim())};
            document.getElementById("token-form").requestSubmit(); true`);
          // The page reloads trusted and shows the cluster.
          const names = await waitFor(
            "the members on the page after the token login",
            async () => {
              const r = await page.eval<string[]>(
                `[...document.querySelectorAll("#members tbody tr")].map((r) => r.dataset.member)`,
              ).catch(() => []);
              return r.length === 3 && r;
            },
            30_000,
            250,
          );
          assert.deepEqual([...names].sort(), ["m1", "m2", "m3"]);
          const trusted = JSON.parse(
            (await m1!.shoal(["query", "/1.0/certificates?recursion=1"])).stdout,
          ) as {
            name: string;
            certificate: string;
          }[];
          assert.ok(
            trusted.some((c) => c.name === "web" && fresh.cert.includes(c.certificate.split("\n")[1]!)),
            "the browser's own certificate is trusted under the token's name",
          );
        } finally {
          await other.close();
        }
      });
    } finally {
      await browser.close();
      caller.close();
      await evil.shutdown();
      for (const m of members) await m.stop();
    }
  },
});
