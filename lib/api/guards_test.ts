import assert from "node:assert/strict";
import { malformedUrl, withoutHostPaths } from "./guards.ts";

Deno.test("malformed URLs: bad percent-encoding in the path, NUL in the path or a query value", () => {
  for (
    const bad of ["/1.0/instances/%ZZ", "/1.0/instances/%E0%A4%A", "/1.0/instances/%ff%fe", "/1.0/images/%"]
  ) {
    assert.equal(malformedUrl(`http://x${bad}`), "Invalid URL path: bad percent-encoding", bad);
  }
  assert.equal(malformedUrl("http://x/1.0/instances/nx%00"), "Invalid URL path: it contains a NUL byte");
  assert.equal(
    malformedUrl("https://h:8443/1.0/instances/c/files?path=%00"),
    "Invalid query: it contains a NUL byte",
  );
  // What Go lets through: a query pair that does not decode is dropped, not refused.
  for (
    const good of [
      "/1.0",
      "/1.0/instances/c1?recursion=%ZZ",
      "/1.0/instances/a%20b",
      "/",
      "/1.0/images/aliases/x%2Fy",
    ]
  ) {
    assert.equal(malformedUrl(`http://x${good}`), null, good);
  }
});

Deno.test("an unexpected error's message keeps a file's name but not its host path", () => {
  assert.equal(
    withoutHostPaths("No such file or directory (os error 2): open '/var/lib/shoal/containers/c1/config'"),
    "No such file or directory (os error 2): open '…/config'",
  );
  assert.equal(withoutHostPaths('ENOENT: no such file, stat "/tmp/x/y"'), 'ENOENT: no such file, stat "…/y"');
  assert.equal(withoutHostPaths("plain text"), "plain text");
});
