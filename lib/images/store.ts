import { detectCompression, type ImageFileInfo, readImageFile, unpackImage } from "./tarball.ts";

/**
 * This member's image files under $SHOAL_DIR/images, one file per fingerprint as LXD keeps
 * them. Records live in the global database; the store only holds bytes.
 */
export class ImageStore {
  constructor(readonly dir: string) {}

  /** The file of an image. */
  path(fingerprint: string): string {
    return `${this.dir}/${fingerprint}`;
  }

  /**
   * Where a fetch from another member keeps the part of an image's file received so far, kept
   * when the transfer breaks so that the next attempt asks for the rest only.
   */
  partialPath(fingerprint: string): string {
    return `${this.dir}/${fingerprint}.partial`;
  }

  /** A new temporary file in the store's directory, for an upload in progress. */
  async tempFile(): Promise<string> {
    await Deno.mkdir(this.dir, { recursive: true });
    return await Deno.makeTempFile({ dir: this.dir, prefix: "upload_" });
  }

  /**
   * Checks an uploaded file and moves it to its fingerprint's place. The temporary file is
   * removed whatever happens, so a refused upload leaves nothing behind.
   */
  async adopt(tmp: string): Promise<ImageFileInfo> {
    try {
      const info = await readImageFile(tmp);
      await Deno.rename(tmp, this.path(info.fingerprint));
      await Deno.chmod(this.path(info.fingerprint), 0o600);
      return info;
    } finally {
      await Deno.remove(tmp).catch(() => {});
    }
  }

  async has(fingerprint: string): Promise<boolean> {
    try {
      await Deno.stat(this.path(fingerprint));
      return true;
    } catch {
      return false;
    }
  }

  /** Unpacks an image into a volume directory. */
  async unpack(fingerprint: string, dir: string): Promise<void> {
    const path = this.path(fingerprint);
    using f = await Deno.open(path);
    const head = new Uint8Array(512);
    const n = (await f.read(head)) ?? 0;
    const c = detectCompression(head.subarray(0, n));
    if (c === null) throw new Error(`Image file ${path} is not a tarball`);
    await unpackImage(path, dir, c);
  }

  /** Removes an image's file, and the part of one a broken fetch left. */
  async remove(fingerprint: string): Promise<void> {
    await Deno.remove(this.path(fingerprint)).catch(() => {});
    await Deno.remove(this.partialPath(fingerprint)).catch(() => {});
  }
}
