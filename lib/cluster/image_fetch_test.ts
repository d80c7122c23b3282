/**
 * ImageFetcher against a real mutual-TLS member on 127.0.0.88 serving an image file through the
 * export route's own fileResponse, which breaks its connection after N bytes when told: the next
 * attempt asks for the rest only (Range: bytes=N-), so the bytes served add up to the file once,
 * and the SHA-256 is still checked over the whole. A kept part that is not the image's prefix is
 * dropped and the file fetched whole, once. Bad ranges get 416 in LXD's envelope.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { fileResponse } from "../api/file_response.ts";
import {
  addImageNode,
  addNode,
  createImage,
  ensureStandaloneNode,
  GlobalDB,
  GlobalFsm,
  imageHolders,
  LocalConsensus,
  updateGlobalSchema,
} from "../db/mod.ts";
import { ImageStore } from "../images/mod.ts";
import { generateKeyPair } from "../tls/mod.ts";
import { ImageFetcher } from "./image_fetch.ts";
import { MemberProxy } from "./proxy.ts";
import type { RouteTarget } from "./routing.ts";

const HOST = "127.0.0.88";
const SIZE = 3 * 1024 * 1024 + 17;

/** A member serving one file: what each request asked for, and how many body bytes went out. */
async function holder(file: string) {
  const tls = await generateKeyPair({ cn: "root@m", kind: "server", ips: [HOST] });
  const ranges: (string | null)[] = [];
  /** Per request, in order: stop after this many body bytes (undefined: send all). */
  const breaks: (number | undefined)[] = [];
  let served = 0;
  const server = https.createServer(
    { cert: tls.cert, key: tls.key, ca: tls.cert, requestCert: true, rejectUnauthorized: true },
    async (req, res) => {
      ranges.push(req.headers.range ?? null);
      const limit = breaks.shift();
      const r = await fileResponse(await Deno.open(file), req.headers.range ?? null, {
        "Content-Type": "application/octet-stream",
      });
      res.writeHead(r.status, Object.fromEntries(r.headers));
      let sent = 0;
      for await (let chunk of r.body!) {
        if (limit !== undefined) chunk = chunk.subarray(0, limit - sent);
        await new Promise((ok) => res.write(chunk, ok));
        sent += chunk.length;
        if (r.status < 300) served += chunk.length; // file bytes, not an error's envelope
        // The member goes away mid-file: the fetcher sees the connection end short of the length.
        if (limit !== undefined && sent >= limit) {
          res.socket?.end();
          return;
        }
      }
      res.end();
    },
  );
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  const address = `${HOST}:${(server.address() as AddressInfo).port}`;
  const proxy = new MemberProxy(() => tls, () => tls);
  return {
    address,
    proxy,
    ranges,
    breaks,
    served: () => served,
    reset() {
      ranges.length = 0;
      breaks.length = 0;
      served = 0;
    },
    async close() {
      proxy.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(null)));
    },
  };
}

async function fixture() {
  const dir = await Deno.makeTempDir();
  const data = new Uint8Array(SIZE);
  // getRandomValues takes at most 64 KiB at a time.
  for (let i = 0; i < SIZE; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, SIZE)));
  const fingerprint = createHash("sha256").update(data).digest("hex");
  await Deno.writeFile(`${dir}/served`, data);
  const h = await holder(`${dir}/served`);
  const fsm = new GlobalFsm(`${dir}/db.sqlite`);
  const db = new GlobalDB(fsm, new LocalConsensus(fsm));
  await db.run(updateGlobalSchema, {});
  await db.run(ensureStandaloneNode, { arch: "x86_64", apiExtensions: 1 });
  for (const n of [2, 3]) {
    await db.run(addNode, { name: `m${n}`, address: `${HOST}:${n}`, arch: "x86_64", apiExtensions: 1 });
  }
  await db.run(createImage, {
    fingerprint,
    filename: "big.tar",
    size: SIZE,
    public: false,
    architecture: "x86_64",
    createdAt: null,
    properties: {},
    member: "m2",
  });
  await db.run(addImageNode, { fingerprint, member: "m3" });
  const store = new ImageStore(`${dir}/images`);
  await Deno.mkdir(store.dir);
  // Both holders are the one server: which member answered is not what is tested.
  let members: RouteTarget[] = ["none", "m2", "m3"].map((name, i) => ({
    id: i + 1,
    name,
    address: name === "none" ? "" : h.address,
    online: true,
    evacuated: false,
    self: name === "none",
  }));
  const fetcher = new ImageFetcher({
    db,
    store,
    location: () => "none",
    routing: {
      members: () => members,
      forward: (name, req) => h.proxy.forward(name, h.address, req, {}),
    },
  });
  return {
    h,
    db,
    store,
    fetcher,
    fingerprint,
    only(name: string) {
      members = members.filter((m) => m.self || m.name === name);
    },
    async [Symbol.asyncDispose]() {
      await h.close();
      fsm.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const sha = async (path: string) => createHash("sha256").update(await Deno.readFile(path)).digest("hex");
const gone = (path: string) => Deno.stat(path).then(() => false, () => true);

Deno.test({
  name: "a transfer broken after N bytes resumes from N on the next holder, serving the file about once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using t = await fixture();
    const n = 1024 * 1024 + 123;
    t.h.breaks.push(n);
    const told: string[] = [];
    await t.fetcher.fetch(t.fingerprint, (p) => told.push(p));
    assert.deepEqual(t.h.ranges, [null, `bytes=${n}-`]);
    // About the file once (what the break cut short was not sent again), never twice.
    assert.equal(t.h.served(), SIZE);
    assert.equal(await sha(t.store.path(t.fingerprint)), t.fingerprint);
    assert.ok(await gone(t.store.partialPath(t.fingerprint)), "the partial file became the image");
    // Progress counts the resumed part as had: it never goes back when the transfer resumes.
    const percents = told.map((p) => Number.parseInt(p));
    assert.ok(told.length > 1 && told.at(-1)!.startsWith("100% ("), `progress: ${told.join(", ")}`);
    assert.ok(percents.every((p, i) => i === 0 || p >= percents[i - 1]!), `progress: ${told.join(", ")}`);
    assert.deepEqual((await t.db.read((tx) => imageHolders(tx, t.fingerprint)))?.locations, [
      "m2",
      "m3",
      "none",
    ]);
  },
});

Deno.test({
  name:
    "with one holder, a broken transfer is resumed from the same member; a part left on disk is resumed later",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using t = await fixture();
    t.only("m2");
    t.h.breaks.push(700_000);
    await t.fetcher.fetch(t.fingerprint);
    assert.deepEqual(t.h.ranges, [null, "bytes=700000-"]);
    assert.equal(t.h.served(), SIZE);
    assert.equal(await sha(t.store.path(t.fingerprint)), t.fingerprint);

    // Every round breaks: the fetch fails, naming why, and the part it got stays for the next.
    await t.store.remove(t.fingerprint);
    t.h.reset();
    t.h.breaks.push(100_000, 100_000, 100_000);
    await assert.rejects(
      t.fetcher.fetch(t.fingerprint),
      /Failed to fetch image .*m2: .*closed the connection/,
    );
    assert.deepEqual(t.h.ranges, [null, "bytes=100000-", "bytes=200000-"]);
    assert.equal((await Deno.stat(t.store.partialPath(t.fingerprint))).size, 300_000);
    t.h.reset();
    await t.fetcher.fetch(t.fingerprint);
    assert.deepEqual(t.h.ranges, ["bytes=300000-"]);
    assert.equal(t.h.served(), SIZE - 300_000);
    assert.equal(await sha(t.store.path(t.fingerprint)), t.fingerprint);
  },
});

Deno.test({
  name: "a kept part that is not the image's prefix fails the checksum: dropped, fetched whole once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using t = await fixture();
    await Deno.writeFile(t.store.partialPath(t.fingerprint), new Uint8Array(5000).fill(1));
    await t.fetcher.fetch(t.fingerprint);
    assert.deepEqual(t.h.ranges, ["bytes=5000-", null]);
    assert.equal(await sha(t.store.path(t.fingerprint)), t.fingerprint);

    // A kept part as long as the file cannot be its prefix: 416, then the whole file.
    await t.store.remove(t.fingerprint);
    t.h.reset();
    await Deno.writeFile(t.store.partialPath(t.fingerprint), new Uint8Array(SIZE + 1));
    await t.fetcher.fetch(t.fingerprint);
    assert.deepEqual(t.h.ranges, [`bytes=${SIZE + 1}-`, null]);
    assert.equal(t.h.served(), SIZE);
    assert.equal(await sha(t.store.path(t.fingerprint)), t.fingerprint);
  },
});

Deno.test({
  name: "the serving side: 206 with Content-Range for a range, 416 in LXD's envelope outside the file",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using t = await fixture();
    const ask = (range: string) =>
      t.h.proxy.forward(
        "m2",
        t.h.address,
        new Request("https://x/1.0/images/f/export", { headers: { Range: range } }),
        {},
      );
    const part = await ask("bytes=10-19");
    assert.equal(part.status, 206);
    assert.equal(part.headers.get("content-range"), `bytes 10-19/${SIZE}`);
    assert.equal((await part.bytes()).length, 10);
    const rest = await ask(`bytes=${SIZE - 5}-`);
    assert.equal(rest.status, 206);
    assert.equal(rest.headers.get("content-range"), `bytes ${SIZE - 5}-${SIZE - 1}/${SIZE}`);
    assert.equal((await rest.bytes()).length, 5);
    for (const range of [`bytes=${SIZE}-`, "bytes=9-3", "pages=1-"]) {
      const bad = await ask(range);
      assert.equal(bad.status, 416, range);
      assert.equal(bad.headers.get("content-range"), `bytes */${SIZE}`);
      const body = await bad.json();
      assert.equal(body.type, "error");
      assert.equal(body.error_code, 416);
      assert.match(body.error, /Range/);
    }
  },
});
