import assert from "node:assert/strict";
import { decodeBatch, encodeBatch, WIRE_VERSION } from "./codec.ts";

Deno.test("codec: byte arrays travel as the base64 every member reads, and come back whole", () => {
  const data = new Uint8Array(70_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 8)) & 0xff;
  const text = encodeBatch(3, [{ type: "snap", to: 1, snapshot: { data, index: 8 } }]);
  // The encoding of members before the runtime's own base64: btoa over the bytes as characters.
  let bin = "";
  for (const b of data) bin += String.fromCharCode(b);
  const wire = JSON.parse(text) as {
    v: number;
    from: number;
    messages: { snapshot: { data: { $b64: string } } }[];
  };
  assert.equal(wire.v, WIRE_VERSION);
  assert.equal(wire.messages[0]!.snapshot.data.$b64, btoa(bin));
  const back = decodeBatch<{ snapshot: { data: Uint8Array; index: number } }>(text);
  assert.equal(back.from, 3);
  assert.deepEqual(back.messages[0]!.snapshot.data, data);
  assert.equal(back.messages[0]!.snapshot.index, 8);
});

Deno.test("codec: a frame of another version or with broken base64 is refused", () => {
  assert.throws(() => decodeBatch(JSON.stringify({ v: WIRE_VERSION + 1, from: 1, messages: [] })), /version/);
  assert.throws(() =>
    decodeBatch(JSON.stringify({ v: WIRE_VERSION, from: 1, messages: [{ d: { $b64: "!!" } }] }))
  );
  assert.throws(() => decodeBatch("{"));
});

Deno.test("codec: frames without bytes come back as they were, also when an entry's data names the bytes key", () => {
  const app = {
    type: "app",
    to: 2,
    from: 1,
    term: 3,
    entries: [{ index: 4, term: 3, type: "normal", data: '{"$b64":"AAE="}' }],
  };
  const resp = { type: "app-resp", to: 2, from: 1, term: 3 };
  assert.deepEqual(decodeBatch(encodeBatch(1, [app, resp])).messages, [app, resp]);
  // An object that is exactly {"$b64": "..."} is bytes wherever it is.
  const bytes = decodeBatch<{ x: unknown }>('{"v":1,"from":1,"messages":[{"x":{"$b64":"AAE="}}]}');
  assert.deepEqual(bytes.messages[0]!.x, new Uint8Array([0, 1]));
});
