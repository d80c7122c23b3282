/**
 * storage.images_volume and storage.backups_volume (LXD's daemon storage): a member keeps its
 * images (or backups) on a custom volume of one of its pools instead of $SHOAL_DIR. As LXD does,
 * $SHOAL_DIR/images becomes a symlink to the volume's directory and what was there moves across;
 * unsetting the key moves it back into a plain directory. Everything else keeps using the path
 * under $SHOAL_DIR, so no other module needs to know.
 */
import { badRequest, errorMessage, mustRun, StatusError } from "../util/mod.ts";

/** The member-local keys that move a directory of $SHOAL_DIR onto a volume, and that directory. */
export const DAEMON_STORAGE_KEYS = {
  "storage.images_volume": "images",
  "storage.backups_volume": "backups",
} as const;

/** Entries of a directory, lost+found aside (a fresh ext4 volume has it). */
async function entries(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name !== "lost+found") out.push(e.name);
  return out;
}

/** Moves what source holds into target (a rename, or a copy where they are on different filesystems). */
async function moveContent(source: string, target: string): Promise<void> {
  for (const name of await entries(source)) {
    try {
      await Deno.rename(`${source}/${name}`, `${target}/${name}`);
    } catch (e) {
      if (!(e instanceof Error && /cross-device|EXDEV/i.test(e.message))) throw e;
      await mustRun("copy daemon storage", "cp", ["-a", `${source}/${name}`, `${target}/`]);
      await Deno.remove(`${source}/${name}`, { recursive: true });
    }
  }
}

async function linkTarget(path: string): Promise<string | null> {
  try {
    return await Deno.readLink(path);
  } catch {
    return null;
  }
}

/**
 * Puts the directory `dest` ($SHOAL_DIR/images) on the volume directory `volume`, or back under
 * $SHOAL_DIR when volume is null. `name` is the key's value, for messages ("pool/volume").
 */
export async function moveDaemonStorage(
  key: string,
  dest: string,
  volume: { dir: string; name: string } | null,
): Promise<void> {
  const current = await linkTarget(dest);
  try {
    if (volume === null) {
      if (current === null) return;
      await Deno.remove(dest);
      await Deno.mkdir(dest, { recursive: true, mode: 0o700 });
      await moveContent(current, dest);
      return;
    }
    if (current === volume.dir) return;
    // As LXD: only an empty volume takes a member's images, so nothing in it is lost or mixed.
    if ((await entries(volume.dir)).length > 0) {
      throw badRequest(`Failed validation of "${key}": Storage volume "${volume.name}" isn't empty`);
    }
    await Deno.chmod(volume.dir, 0o700);
    const source = current ?? `${dest}.temp`;
    if (current === null) {
      await Deno.mkdir(dest, { recursive: true, mode: 0o700 });
      await Deno.rename(dest, source);
    } else await Deno.remove(dest);
    await Deno.symlink(volume.dir, dest);
    await moveContent(source, volume.dir);
    if (current === null) await Deno.remove(source, { recursive: true });
  } catch (e) {
    if (e instanceof StatusError) throw e;
    throw badRequest(`Failed to move the data of "${key}" to ${volume?.dir ?? dest}: ${errorMessage(e)}`);
  }
}
