import assert from "node:assert/strict";
import { containersAlias } from "./aliases.ts";

Deno.test("/1.0/containers… is asked as /1.0/instances…, method, query and body kept", async () => {
  const r = containersAlias(
    new Request("http://x/1.0/containers/c1/exec?project=default", { method: "POST", body: '{"a":1}' }),
  );
  assert.equal(r.url, "http://x/1.0/instances/c1/exec?project=default");
  assert.equal(r.method, "POST");
  assert.equal(await r.text(), '{"a":1}');
  assert.equal(containersAlias(new Request("http://x/1.0/containers")).url, "http://x/1.0/instances");
  for (const u of ["http://x/1.0/containersx", "http://x/1.0/images?x=/1.0/containers", "http://x/1.0"]) {
    const req = new Request(u);
    assert.equal(containersAlias(req), req);
  }
});
