import { createHash, type Hash } from "node:crypto";
import { addImageNode, type GlobalDB, imageHolders } from "../db/mod.ts";
import type { ImageStore } from "../images/mod.ts";
import { byteSize, errorMessage, notFound, StatusError } from "../util/mod.ts";
import type { MemberRouting } from "./routing.ts";

/** What fetching an image needs of its member. */
export interface ImageFetchOptions {
  db: GlobalDB;
  /** The members, and a way to ask one (MemberRouting; a test gives its own members). */
  routing: Pick<MemberRouting, "members" | "forward">;
  store: ImageStore;
  /** This member's name, recorded as a holder once the file is here. */
  location: () => string;
}

/**
 * Gets an image's file from a member that holds it (LXD's image replication on demand, the least
 * of it: issue 13 completes it): streamed to a partial file in the store while its SHA-256 is
 * computed, kept only when that is the fingerprint, then recorded as held here too. Holders are
 * tried online ones first, in turn, until one delivers; a transfer that breaks leaves its partial
 * file, and the next attempt (that holder or another) asks for the rest only (Range: bytes=N-)
 * and hashes the kept part again first. Concurrent asks for one image share one download.
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
    // A transfer that broke after bringing bytes earns another round: the next one resumes where
    // it stopped. Bounded, so a holder that always breaks cannot keep a launch waiting for ever.
    for (let round = 0; round < MAX_ROUNDS; round++) {
      let progressed = false;
      for (const h of holders) {
        if (!h.online) {
          if (round === 0) failures.push(`${h.name}: offline`);
          continue;
        }
        const got = { bytes: 0 };
        try {
          await this.#download(h.name, fingerprint, image.project, got);
          await o.db.run(addImageNode, { fingerprint, member: o.location() });
          return;
        } catch (e) {
          failures.push(`${h.name}: ${errorMessage(e)}`);
          // A broken transfer keeps what it brought; a bad checksum dropped it (no use going on).
          if (got.bytes > 0 && await exists(o.store.partialPath(fingerprint))) progressed = true;
        }
      }
      if (!progressed) break;
    }
    throw new StatusError(
      503,
      `Failed to fetch image "${fingerprint}" from the members that hold it (${failures.join("; ")})`,
    );
  }

  /**
   * Brings the file from one member, resuming from what an earlier attempt kept. A resumed file
   * whose checksum is wrong had a prefix that was not this image's (a member's disk, a bug): it is
   * dropped and fetched whole, once.
   */
  async #download(member: string, fingerprint: string, project: string, got: { bytes: number }) {
    const partial = this.#o.store.partialPath(fingerprint);
    let r = await this.#attempt(member, fingerprint, project, partial, got, false);
    if (r.kind === "mismatch" && r.resumedFrom > 0) {
      r = await this.#attempt(member, fingerprint, project, partial, got, true);
    }
    if (r.kind === "mismatch") {
      await Deno.remove(partial).catch(() => {});
      throw new Error(`the file's SHA-256 is ${r.sum}, not the image's fingerprint`);
    }
  }

  /**
   * One request for the file: the rest of the kept part (Range: bytes=N-) or all of it. The
   * received bytes go to the partial file, which a broken transfer leaves for the next attempt;
   * a whole file whose SHA-256 is the fingerprint takes its place in the store.
   */
  async #attempt(
    member: string,
    fingerprint: string,
    project: string,
    partial: string,
    got: { bytes: number },
    whole: boolean,
  ): Promise<Attempt> {
    const o = this.#o;
    const hash = createHash("sha256");
    // The kept prefix is hashed again rather than trusted: the final checksum covers every byte.
    let kept = 0;
    if (!whole) {
      try {
        using f = await Deno.open(partial);
        for await (const chunk of f.readable) {
          hash.update(chunk);
          kept += chunk.length;
        }
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
    const headers = kept > 0 ? { Range: `bytes=${kept}-` } : undefined;
    const res = await o.routing.forward(
      member,
      new Request(`http://shoal/1.0/images/${fingerprint}/export?project=${encodeURIComponent(project)}`, {
        headers,
      }),
      null,
    );
    if (res.status === 416 && kept > 0) {
      // The kept part is as long as the file or longer: it cannot be a prefix of it.
      await res.body?.cancel();
      return {
        kind: "mismatch",
        sum: "unknown (the kept part is not shorter than the file)",
        resumedFrom: kept,
      };
    }
    let from = 0;
    if (res.status === 206 && kept > 0) {
      from = Number(/^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1] ?? -1);
      if (from !== kept) {
        await res.body?.cancel();
        throw new Error(`it answered the range from byte ${from}, not from byte ${kept} as asked`);
      }
    } else if (res.status !== 200 || !res.body) {
      const text = await res.text().catch(() => "");
      let why = `HTTP ${res.status}`;
      try {
        why = JSON.parse(text).error || why;
      } catch { /* not an envelope */ }
      throw new Error(why);
    }
    if (from === 0 && kept > 0) {
      // A member that ignores ranges (an older version) sends it all: start again.
      kept = 0;
      hash.destroy();
      return await this.#write(fingerprint, partial, createHash("sha256"), 0, res, got);
    }
    return await this.#write(fingerprint, partial, hash, kept, res, got);
  }

  /** Appends the answer's body to the partial file after its first `kept` bytes, then checks it. */
  async #write(
    fingerprint: string,
    partial: string,
    hash: Hash,
    kept: number,
    res: Response,
    got: { bytes: number },
  ): Promise<Attempt> {
    const o = this.#o;
    const total = kept + Number(res.headers.get("content-length") ?? 0);
    {
      using f = await Deno.open(partial, { write: true, create: true, truncate: kept === 0, mode: 0o600 });
      if (kept > 0) {
        await f.truncate(kept);
        await f.seek(kept, Deno.SeekMode.Start);
      }
      const start = performance.now();
      let told = 0;
      let here = 0;
      for await (const chunk of res.body!) {
        hash.update(chunk);
        let off = 0;
        while (off < chunk.length) off += await f.write(chunk.subarray(off));
        here += chunk.length;
        got.bytes += chunk.length;
        const now = performance.now();
        // As LXD, a few times a second: percent of the whole (the kept part counts as had) and the
        // rate of this transfer.
        if (total > kept && (now - told >= 250 || kept + here === total)) {
          told = now;
          const rate = here / Math.max((now - start) / 1000, 0.001);
          this.#tell(fingerprint, `${Math.floor(((kept + here) * 100) / total)}% (${byteSize(rate)}/s)`);
        }
      }
    }
    const sum = hash.digest("hex");
    if (sum !== fingerprint) return { kind: "mismatch", sum, resumedFrom: kept };
    await Deno.chmod(partial, 0o600);
    await Deno.rename(partial, o.store.path(fingerprint));
    return { kind: "ok" };
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** How many rounds over the holders a fetch makes while transfers break after making progress. */
const MAX_ROUNDS = 3;

/** How one request for the file ended (a broken transfer throws). */
type Attempt = { kind: "ok" } | { kind: "mismatch"; sum: string; resumedFrom: number };
