import assert from "node:assert/strict";
import { Inflights, PeerProgress } from "./progress.ts";

Deno.test("inflights: full by count or by bytes, freed up to an acknowledged index", () => {
  const f = new Inflights(3, 100);
  f.add(5, 10);
  f.add(7, 10);
  assert.equal(f.full(), false);
  f.add(9, 10);
  assert.equal(f.full(), true);
  f.freeLE(7);
  assert.equal(f.count(), 1);
  assert.equal(f.bytes(), 10);
  f.add(10, 95);
  assert.equal(f.full(), true, "bytes");
  f.freeFirstOne();
  assert.equal(f.count(), 1);
});

Deno.test("progress: probe sends one append, then waits", () => {
  const pr = new PeerProgress(5, 4, Infinity);
  assert.equal(pr.isPaused(), false);
  pr.sentEntries(2, 10);
  assert.equal(pr.isPaused(), true);
  assert.equal(pr.next, 5, "probe does not advance next optimistically");
});

Deno.test("progress: replicate pipelines up to the window, advancing next", () => {
  const pr = new PeerProgress(5, 2, Infinity);
  pr.maybeUpdate(4);
  pr.becomeReplicate();
  pr.sentEntries(3, 1);
  assert.equal(pr.next, 8);
  pr.sentEntries(1, 1);
  assert.equal(pr.isPaused(), true);
  pr.maybeUpdate(7);
  pr.inflights.freeLE(7);
  assert.equal(pr.isPaused(), false);
});

Deno.test("progress: a rejection backs next up to the hint, never below match+1; stale ones are ignored", () => {
  const pr = new PeerProgress(10, 4, Infinity);
  pr.match = 3;
  assert.equal(pr.maybeDecrTo(8, 2), false, "not the index probed: stale");
  assert.equal(pr.maybeDecrTo(9, 6), true);
  assert.equal(pr.next, 7);
  assert.equal(pr.maybeDecrTo(6, 1), true);
  assert.equal(pr.next, 4);
  pr.becomeReplicate();
  pr.sentEntries(5, 0);
  assert.equal(pr.maybeDecrTo(3, 0), false, "at or below match: stale");
  assert.equal(pr.maybeDecrTo(6, 0), true);
  assert.equal(pr.next, 4);
});

Deno.test("progress: after a snapshot, probing starts past the snapshot", () => {
  const pr = new PeerProgress(3, 4, Infinity);
  pr.becomeSnapshot(20);
  assert.equal(pr.isPaused(), true);
  pr.becomeProbe();
  assert.equal(pr.next, 21);
});
