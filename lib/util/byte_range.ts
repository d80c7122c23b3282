/**
 * What a Range header asks of a file of `size` bytes (RFC 9110 §14, one range: a member resuming
 * an image fetch asks `bytes=N-`). Several ranges at once are served whole, as the RFC allows:
 * no caller of ours asks for them, and a multipart answer would be work for nothing.
 */
export type ByteRange =
  | { kind: "whole" }
  /** Bytes start..end, both included. */
  | { kind: "part"; start: number; end: number }
  /** Well formed but outside the file, or not a byte range at all: 416 with why. */
  | { kind: "unsatisfiable"; reason: string };

export function parseByteRange(header: string | null, size: number): ByteRange {
  if (header === null) return { kind: "whole" };
  const m = /^\s*bytes\s*=\s*(.*)$/i.exec(header);
  if (!m) return { kind: "unsatisfiable", reason: `Range "${header}" is not a byte range (bytes=START-END)` };
  const spec = m[1]!.trim();
  if (spec.includes(",")) return { kind: "whole" };
  const r = /^(\d*)-(\d*)$/.exec(spec);
  if (!r || (r[1] === "" && r[2] === "")) {
    return { kind: "unsatisfiable", reason: `Range "${header}" is not a byte range (bytes=START-END)` };
  }
  const outside = (): ByteRange => ({
    kind: "unsatisfiable",
    reason: `Range "${header}" is outside the file's ${size} bytes`,
  });
  if (r[1] === "") {
    // bytes=-N: the last N bytes.
    const n = Number(r[2]);
    if (n === 0 || size === 0) return outside();
    return { kind: "part", start: Math.max(size - n, 0), end: size - 1 };
  }
  const start = Number(r[1]);
  const end = r[2] === "" ? size - 1 : Math.min(Number(r[2]), size - 1);
  if (r[2] !== "" && Number(r[2]) < start) {
    return { kind: "unsatisfiable", reason: `Range "${header}" ends before it starts` };
  }
  if (start >= size) return outside();
  return { kind: "part", start, end };
}
