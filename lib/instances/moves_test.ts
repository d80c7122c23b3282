import assert from "node:assert/strict";
import { StatusError } from "../util/mod.ts";
import { MigrationSources } from "./moves.ts";
import { untarInto } from "./volume_stream.ts";

async function volume(root: string, name: string, text: string): Promise<string> {
  const dir = `${root}/${name}`;
  await Deno.mkdir(`${dir}/rootfs/etc`, { recursive: true });
  await Deno.writeTextFile(`${dir}/rootfs/etc/hostname`, text);
  await Deno.symlink("/etc/hostname", `${dir}/rootfs/link`);
  await Deno.chmod(dir, 0o100);
  return dir;
}

function status(e: unknown): number {
  return e instanceof StatusError ? e.status : 0;
}

Deno.test("an offered volume and its snapshots are each taken once, with the secret", async () => {
  const root = await Deno.makeTempDir({ prefix: "shoal-offers-" });
  try {
    const dir = await volume(root, "c1", "now");
    const snap = await volume(root, "snap0", "then");
    const sources = new MigrationSources();
    const offer = sources.offer({
      project: "default",
      name: "c1",
      dir,
      idmap: "[]",
      snapshots: [{ name: "snap0", dir: snap }],
    });
    assert.equal(status(catching(() => sources.take(offer.id, "wrong"))), 403);
    assert.equal(status(catching(() => sources.take("nope", offer.secret))), 404);

    const res = sources.take(offer.id, offer.secret);
    assert.deepEqual(JSON.parse(decodeURIComponent(res.headers.get("X-Shoal-Snapshots")!)), ["snap0"]);
    assert.equal(decodeURIComponent(res.headers.get("X-Shoal-Instance")!), "default/c1");
    const out = `${root}/out`;
    await Deno.mkdir(out);
    assert.ok(await untarInto(out, res.body!) > 0);
    await offer.served;
    assert.equal(await Deno.readTextFile(`${out}/rootfs/etc/hostname`), "now");
    // Links stay links, modes stay modes: the volume arrives as it was.
    assert.equal(await Deno.readLink(`${out}/rootfs/link`), "/etc/hostname");
    assert.equal((await Deno.stat(out)).mode! & 0o777, 0o100);
    assert.equal(
      status(catching(() => sources.take(offer.id, offer.secret))),
      404,
      "the volume is taken once",
    );

    const out2 = `${root}/out2`;
    await Deno.mkdir(out2);
    await untarInto(out2, sources.take(offer.id, offer.secret, "snap0").body!);
    assert.equal(await Deno.readTextFile(`${out2}/rootfs/etc/hostname`), "then");
    assert.equal(sources.has(offer.id), false, "every part taken: the offer is gone");
  } finally {
    await Deno.chmod(`${root}/c1`, 0o700).catch(() => {});
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a withdrawn offer tells its waiter, and a broken stream is never taken for whole", async () => {
  const sources = new MigrationSources();
  const o = sources.offer({ project: "default", name: "c1", dir: "/nonexistent-volume", idmap: "[]" });
  const res = sources.take(o.id, o.secret);
  const root = await Deno.makeTempDir({ prefix: "shoal-offers-" });
  try {
    await assert.rejects(untarInto(root, res.body!));
    await assert.rejects(o.served);
    const o2 = sources.offer({ project: "default", name: "c2", dir: root, idmap: "[]" });
    sources.withdraw(o2.id, new Error("gone"));
    await assert.rejects(o2.served, /gone/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

function catching(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return null;
}
