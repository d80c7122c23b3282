import assert from "node:assert/strict";
import { Rng, seededRng } from "./rng.ts";

Deno.test("a seed replays the same sequence, another seed does not", () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const xs = Array.from({ length: 8 }, () => a.next());
  assert.deepEqual(Array.from({ length: 8 }, () => b.next()), xs);
  assert.notDeepEqual(Array.from({ length: 8 }, () => c.next()), xs);
  const f = seededRng(42), g = seededRng(42);
  assert.deepEqual(Array.from({ length: 8 }, () => f()), Array.from({ length: 8 }, () => g()));
});

Deno.test("draws stay in their ranges", () => {
  const r = new Rng(7);
  for (let i = 0; i < 1000; i++) {
    const x = r.next();
    assert.ok(x >= 0 && x < 1);
    const n = r.between(3, 5);
    assert.ok(n >= 3 && n <= 5 && Number.isInteger(n));
  }
  assert.throws(() => r.pick([]), /empty/);
});
