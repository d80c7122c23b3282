import assert from "node:assert/strict";
import { InFlight, UnixListener } from "./listeners.ts";

/** One raw HTTP/1.1 request on the socket; the answer's body. */
async function ask(socket: string, host: string): Promise<string> {
  const c = await Deno.connect({ transport: "unix", path: socket });
  try {
    await c.write(
      new TextEncoder().encode(
        `GET /1.0/instances?x=1 HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ),
    );
    let out = "";
    const buf = new Uint8Array(4096);
    for (let n; (n = await c.read(buf)) !== null;) out += new TextDecoder().decode(buf.subarray(0, n));
    return out.slice(out.indexOf("\r\n\r\n") + 4);
  } finally {
    c.close();
  }
}

Deno.test("unix socket: the request URL the app gets, whatever Host came, the first time and after", async () => {
  const dir = await Deno.makeTempDir();
  const listener = await UnixListener.listen(
    `${dir}/unix.socket`,
    (req) => new Response(req.url),
    () => {
      throw new Error("no websockets here");
    },
    new InFlight(),
  );
  try {
    for (let round = 0; round < 2; round++) {
      // A host that does not parse (pylxd's websocket library on a unix socket) is read as ours.
      assert.equal(await ask(listener.path, "None:None"), "http://unix-socket.invalid/1.0/instances?x=1");
      assert.equal(await ask(listener.path, "[::1"), "http://unix-socket.invalid/1.0/instances?x=1");
      assert.equal(await ask(listener.path, "localhost"), "http+unix://localhost/1.0/instances?x=1");
      // Sent as the host itself: as before, taken as it came.
      assert.equal(
        await ask(listener.path, "unix-socket.invalid"),
        "http+unix://unix-socket.invalid/1.0/instances?x=1",
      );
    }
  } finally {
    await listener.close(1_000);
    await Deno.remove(dir, { recursive: true });
  }
});
