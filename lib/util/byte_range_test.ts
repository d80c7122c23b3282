import assert from "node:assert/strict";
import { parseByteRange } from "./byte_range.ts";

Deno.test("a resume from N, a closed range, a suffix; none means the whole file", () => {
  assert.deepEqual(parseByteRange(null, 100), { kind: "whole" });
  assert.deepEqual(parseByteRange("bytes=40-", 100), { kind: "part", start: 40, end: 99 });
  assert.deepEqual(parseByteRange("bytes=0-", 100), { kind: "part", start: 0, end: 99 });
  assert.deepEqual(parseByteRange("bytes=10-19", 100), { kind: "part", start: 10, end: 19 });
  // An end past the file is cut to it (RFC 9110).
  assert.deepEqual(parseByteRange("bytes=90-500", 100), { kind: "part", start: 90, end: 99 });
  assert.deepEqual(parseByteRange("bytes=-10", 100), { kind: "part", start: 90, end: 99 });
  assert.deepEqual(parseByteRange("bytes=-500", 100), { kind: "part", start: 0, end: 99 });
  // Several ranges: served whole, as the RFC allows.
  assert.deepEqual(parseByteRange("bytes=0-1,5-6", 100), { kind: "whole" });
});

Deno.test("ranges outside the file or malformed are unsatisfiable, saying why", () => {
  for (
    const [h, why] of [
      ["bytes=100-", /outside the file's 100 bytes/],
      ["bytes=500-600", /outside/],
      ["bytes=-0", /outside/],
      ["bytes=20-10", /ends before it starts/],
      ["bytes=x-", /not a byte range/],
      ["bytes=-", /not a byte range/],
      ["items=0-1", /not a byte range/],
    ] as const
  ) {
    const r = parseByteRange(h, 100);
    assert.equal(r.kind, "unsatisfiable", h);
    if (r.kind === "unsatisfiable") assert.match(r.reason, why);
  }
  assert.equal(parseByteRange("bytes=0-", 0).kind, "unsatisfiable");
});
