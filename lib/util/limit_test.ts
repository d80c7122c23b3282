import assert from "node:assert/strict";
import { forEachLimited } from "./limit.ts";

Deno.test("forEachLimited(): at most limit at once, every item tried, the first failure thrown", async () => {
  let now = 0, most = 0;
  const seen: number[] = [];
  await assert.rejects(
    forEachLimited([1, 2, 3, 4, 5, 6, 7], 3, async (x) => {
      now++;
      most = Math.max(most, now);
      await new Promise((r) => setTimeout(r, 5));
      seen.push(x);
      now--;
      if (x === 2 || x === 5) throw new Error(`bad ${x}`);
    }),
    /bad 2/,
  );
  assert.equal(most, 3);
  assert.deepEqual(seen.sort(), [1, 2, 3, 4, 5, 6, 7]);
  await forEachLimited([], 4, () => Promise.reject(new Error("never")));
});
