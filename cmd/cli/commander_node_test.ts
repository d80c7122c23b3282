import assert from "node:assert/strict";
import nodePath from "node:path";
import { stripVTControlCharacters as nodeStrip } from "node:util";
import { EventEmitter, fs, path, process, stripVTControlCharacters } from "./commander_node.ts";

Deno.test("commander's node shim: events in order, counted, with their arguments", () => {
  const e = new EventEmitter();
  const seen: unknown[] = [];
  assert.deepEqual(e.emit("x", 1), false);
  e.on("x", (a) => seen.push(["first", a]));
  e.on("x", (a) => seen.push(["second", a]));
  assert.deepEqual(e.listenerCount("x"), 2);
  assert.deepEqual(e.listenerCount("y"), 0);
  assert.deepEqual(e.emit("x", 7), true);
  assert.deepEqual(seen, [["first", 7], ["second", 7]]);
});

Deno.test("commander's node shim: path as node:path's for POSIX paths", () => {
  for (const p of ["/a/b/c.js", "a/b", "c.js", "/", "/a/", "a/.hidden", "x.tar.gz", "../q/r"]) {
    assert.deepEqual(path.dirname(p), nodePath.dirname(p), `dirname ${p}`);
    assert.deepEqual(path.basename(p), nodePath.basename(p), `basename ${p}`);
    assert.deepEqual(path.basename(p, ".js"), nodePath.basename(p, ".js"), `basename ${p} .js`);
    assert.deepEqual(path.extname(p), nodePath.extname(p), `extname ${p}`);
  }
  for (const ps of [["/a", "b"], ["/a", "/b", "c/../d"], ["a/./b"], ["/x/y", ".."]]) {
    assert.deepEqual(path.resolve(...ps), nodePath.resolve(...ps), `resolve ${ps}`);
  }
});

Deno.test("commander's node shim: fs, env and stripping as Node's", () => {
  assert.deepEqual(fs.existsSync("/"), true);
  assert.deepEqual(fs.existsSync("/no/such/file"), false);
  assert.deepEqual(process.env.PATH, Deno.env.get("PATH"));
  assert.deepEqual("NO_SUCH_VARIABLE_HERE" in process.env, false);
  assert.deepEqual("PATH" in process.env, true);
  for (
    const s of [
      "plain",
      "\x1b[1mbold\x1b[22m",
      "\x1b[38;5;245mgrey\x1b[0m x",
      "\x1b]8;;http://a\x07l\x1b]8;;\x07",
    ]
  ) {
    assert.deepEqual(stripVTControlCharacters(s), nodeStrip(s), JSON.stringify(s));
  }
});
