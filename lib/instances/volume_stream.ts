/**
 * An instance volume as a byte stream between members: GNU tar of the volume's directory (its
 * rootfs with owners as numbers, modes, links and extended attributes, so a shifted rootfs stays
 * shifted), read and written by the tar tool while the bytes flow, never whole in memory.
 */
import { errorMessage, lastLine } from "../util/mod.ts";

/** What both ends ask of tar: numeric owners and every extended attribute (file capabilities). */
const TAR_FLAGS = ["--numeric-owner", "--xattrs", "--xattrs-include=*"];

/**
 * The volume at dir as a tar stream. It ends cleanly only when tar succeeded: a tar that fails
 * half way errors the stream, so the receiving member never takes a truncated volume for whole.
 */
export function tarVolume(dir: string): ReadableStream<Uint8Array> {
  const child = new Deno.Command("tar", {
    args: [...TAR_FLAGS, "-C", dir, "-cf", "-", "."],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      const { value, done } = await reader.read();
      if (!done) {
        ctrl.enqueue(value);
        return;
      }
      const st = await child.status;
      if (st.success) ctrl.close();
      else {ctrl.error(
          new Error(`Failed reading the volume: tar: ${lastLine(await stderr) || `exit ${st.code}`}`),
        );}
    },
    cancel() {
      // The receiver went away: stop reading the disk for nobody.
      try {
        child.kill("SIGKILL");
      } catch { /* ended already */ }
    },
  }, { highWaterMark: 0 });
}

/**
 * Writes a tar stream into dir (which exists) and resolves with the bytes taken; rejects when
 * the stream breaks or tar refuses it. What was written stays: the caller owns dir's cleanup.
 */
export async function untarInto(
  dir: string,
  body: ReadableStream<Uint8Array>,
  progress?: (bytes: number) => void,
): Promise<number> {
  const child = new Deno.Command("tar", {
    args: [...TAR_FLAGS, "--same-owner", "--same-permissions", "-C", dir, "-xf", "-"],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const w = child.stdin.getWriter();
  let bytes = 0;
  let broken: unknown = null;
  try {
    for await (const chunk of body) {
      bytes += chunk.length;
      await w.write(chunk);
      progress?.(bytes);
    }
    await w.close();
  } catch (e) {
    broken = e;
    try {
      child.kill("SIGKILL");
    } catch { /* ended already */ }
    await w.abort().catch(() => {});
  }
  const st = await child.status;
  if (broken !== null) {
    throw new Error(`The volume's stream broke after ${bytes} bytes: ${errorMessage(broken)}`);
  }
  if (!st.success) {
    throw new Error(`Failed writing the volume: tar: ${lastLine(await stderr) || `exit ${st.code}`}`);
  }
  return bytes;
}
