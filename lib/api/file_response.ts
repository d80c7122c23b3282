import { parseByteRange } from "../util/mod.ts";
import { error } from "./response.ts";

/**
 * A file as a download, honouring a Range header as LXD's file responses do (Go's
 * http.ServeContent): 206 with Content-Range for one range (a member resuming an image fetch asks
 * `bytes=N-`), 416 in LXD's error envelope for a range outside the file. The file is closed
 * when its body has been read or cancelled, or at once when no body is sent.
 */
export async function fileResponse(
  f: Deno.FsFile,
  range: string | null,
  headers: Record<string, string>,
): Promise<Response> {
  const size = (await f.stat()).size;
  const r = parseByteRange(range, size);
  if (r.kind === "unsatisfiable") {
    f.close();
    const res = error(416, r.reason);
    res.headers.set("Content-Range", `bytes */${size}`);
    return res;
  }
  // Its length lets a member fetching it tell its progress (download_progress).
  const common = { ...headers, "Accept-Ranges": "bytes" };
  if (r.kind === "whole") {
    return new Response(f.readable, { headers: { ...common, "Content-Length": String(size) } });
  }
  await f.seek(r.start, Deno.SeekMode.Start);
  const length = r.end - r.start + 1;
  return new Response(r.end === size - 1 ? f.readable : slice(f, length), {
    status: 206,
    headers: {
      ...common,
      "Content-Length": String(length),
      "Content-Range": `bytes ${r.start}-${r.end}/${size}`,
    },
  });
}

/** The next `length` bytes of f (a range that stops short of the file's end). */
function slice(f: Deno.FsFile, length: number): ReadableStream<Uint8Array> {
  let left = length;
  return new ReadableStream({
    async pull(ctl) {
      const buf = new Uint8Array(Math.min(left, 256 * 1024));
      const n = left > 0 ? await f.read(buf) : null;
      if (n === null) {
        f.close();
        ctl.close();
        return;
      }
      left -= n;
      ctl.enqueue(buf.subarray(0, n));
      if (left === 0) {
        f.close();
        ctl.close();
      }
    },
    cancel() {
      f.close();
    },
  });
}
