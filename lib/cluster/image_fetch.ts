import { createHash } from "node:crypto";
import { addImageNode, type GlobalDB, imageHolders } from "../db/mod.ts";
import type { ImageStore } from "../images/mod.ts";
import { byteSize, errorMessage, notFound, StatusError } from "../util/mod.ts";
import type { MemberRouting } from "./routing.ts";

/** What fetching an image needs of its member. */
export interface ImageFetchOptions {
  db: GlobalDB;
  routing: MemberRouting;
  store: ImageStore;
  /** This member's name, recorded as a holder once the file is here. */
  location: () => string;
}

/**
 * Gets an image's file from a member that holds it (LXD's image replication on demand, the least
 * of it: issue 13 completes it): streamed to a temporary file in the store while its SHA-256 is
 * computed, kept only when that is the fingerprint, then recorded as held here too. Holders are
 * tried online ones first, in turn, until one delivers. Concurrent asks for one image share
 * one download.
 */
export class ImageFetcher {
  #o: ImageFetchOptions;
  #inFlight = new Map<string, Promise<void>>();
  /** Who wants to hear of each download's progress (every asker of a shared download). */
  #listeners = new Map<string, Set<(text: string) => void>>();

  constructor(o: ImageFetchOptions) {
    this.#o = o;
  }

  /** Gets the image here; progress hears "45% (12.34MB/s)" as LXD's download_progress says it. */
  async fetch(fingerprint: string, progress?: (text: string) => void): Promise<void> {
    let p = this.#inFlight.get(fingerprint);
    if (!p) {
      p = this.#fetch(fingerprint).finally(() => {
        this.#inFlight.delete(fingerprint);
        this.#listeners.delete(fingerprint);
      });
      this.#inFlight.set(fingerprint, p);
    }
    if (!progress) return await p;
    const set = this.#listeners.get(fingerprint) ?? new Set();
    this.#listeners.set(fingerprint, set);
    set.add(progress);
    try {
      await p;
    } finally {
      set.delete(progress);
    }
  }

  #tell(fingerprint: string, text: string): void {
    for (const l of this.#listeners.get(fingerprint) ?? []) l(text);
  }

  async #fetch(fingerprint: string): Promise<void> {
    const o = this.#o;
    if (await o.store.has(fingerprint)) return;
    const image = await o.db.read((tx) => imageHolders(tx, fingerprint));
    if (!image) throw notFound("Image not found");
    const members = o.routing.members();
    const holders = members.filter((m) => !m.self && image.locations.includes(m.name))
      .sort((a, b) => Number(b.online) - Number(a.online));
    if (holders.length === 0) throw notFound(`No cluster member holds image "${fingerprint}"`);
    const failures: string[] = [];
    for (const h of holders) {
      if (!h.online) {
        failures.push(`${h.name}: offline`);
        continue;
      }
      try {
        await this.#download(h.name, fingerprint, image.project);
        await o.db.run(addImageNode, { fingerprint, member: o.location() });
        return;
      } catch (e) {
        failures.push(`${h.name}: ${errorMessage(e)}`);
      }
    }
    throw new StatusError(
      503,
      `Failed to fetch image "${fingerprint}" from the members that hold it (${failures.join("; ")})`,
    );
  }

  async #download(member: string, fingerprint: string, project: string): Promise<void> {
    const o = this.#o;
    const res = await o.routing.forward(
      member,
      new Request(`http://shoal/1.0/images/${fingerprint}/export?project=${encodeURIComponent(project)}`),
      null,
    );
    if (res.status !== 200 || !res.body) {
      const text = await res.text().catch(() => "");
      let why = `HTTP ${res.status}`;
      try {
        why = JSON.parse(text).error || why;
      } catch { /* not an envelope */ }
      throw new Error(why);
    }
    const tmp = await o.store.tempFile();
    try {
      const hash = createHash("sha256");
      using f = await Deno.open(tmp, { write: true, truncate: true });
      const total = Number(res.headers.get("content-length") ?? 0);
      const start = performance.now();
      let got = 0;
      let told = 0;
      for await (const chunk of res.body) {
        hash.update(chunk);
        got += chunk.length;
        const now = performance.now();
        // As LXD, a few times a second: percent of the whole and the rate so far.
        if (total > 0 && (now - told >= 250 || got === total)) {
          told = now;
          const rate = got / Math.max((now - start) / 1000, 0.001);
          this.#tell(fingerprint, `${Math.floor((got * 100) / total)}% (${byteSize(rate)}/s)`);
        }
        let off = 0;
        while (off < chunk.length) off += await f.write(chunk.subarray(off));
      }
      const sum = hash.digest("hex");
      if (sum !== fingerprint) throw new Error(`the file's SHA-256 is ${sum}, not the image's fingerprint`);
      await Deno.chmod(tmp, 0o600);
      await Deno.rename(tmp, o.store.path(fingerprint));
    } finally {
      await Deno.remove(tmp).catch(() => {});
    }
  }
}
