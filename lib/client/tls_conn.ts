/**
 * A mutual-TLS connection of node:tls as a ByteConn (reads and writes that resolve, as Deno's
 * connections), for unix_http.ts's kept-alive requests over HTTPS. node:tls, not
 * Deno.connectTls: the server is pinned by its certificate's fingerprint (checkServerIdentity),
 * whatever names it carries, as every other client of ours pins it.
 * @module
 */
import type { ConnectionOptions, TLSSocket } from "node:tls";
import type { ByteConn } from "./unix_http.ts";

/** Connects and completes the handshake; rejects with why it failed. */
export async function dialTls(o: ConnectionOptions & { host: string; port: number }): Promise<ByteConn> {
  const { default: tls } = await import("node:tls");
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const s = tls.connect(o, () => {
      s.off("error", reject);
      resolve(s);
    });
    s.once("error", reject);
  });
  return new TlsConn(socket);
}

/** The socket's data, queued until read; its end and errors, given to the read that waits. */
class TlsConn implements ByteConn {
  #socket: TLSSocket;
  #chunks: Uint8Array[] = [];
  #ended = false;
  #error: Error | null = null;
  #waiting: (() => void) | null = null;

  constructor(socket: TLSSocket) {
    this.#socket = socket;
    const wake = () => {
      const w = this.#waiting;
      this.#waiting = null;
      w?.();
    };
    socket.on("data", (d: Uint8Array) => {
      this.#chunks.push(d);
      wake();
    });
    socket.on("end", () => {
      this.#ended = true;
      wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      wake();
    });
    socket.on("error", (e: Error) => {
      this.#error = e;
      wake();
    });
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((r) => (this.#waiting = r));
    }
    const c = this.#chunks[0]!;
    const n = Math.min(c.length, p.length);
    p.set(c.subarray(0, n));
    if (n < c.length) this.#chunks[0] = c.subarray(n);
    else this.#chunks.shift();
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended || this.#socket.destroyed) return Promise.reject(new Error("the connection is closed"));
    return new Promise((resolve, reject) => {
      this.#socket.write(p, (e) => e ? reject(e) : resolve(p.length));
    });
  }

  close(): void {
    this.#ended = true;
    this.#socket.destroy();
    const w = this.#waiting;
    this.#waiting = null;
    w?.();
  }

  ref(): void {
    this.#socket.ref();
  }

  unref(): void {
    this.#socket.unref();
  }
}
