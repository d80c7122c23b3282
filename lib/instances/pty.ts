/**
 * A pseudo-terminal from libc through Deno's FFI (STACK.md §9): no native addon, and window
 * resizes reach the program as SIGWINCH like on any terminal.
 */

const TIOCSWINSZ = 0x5414n;
const O_RDWR = 2;
const O_NOCTTY = 0o400;

let libc: ReturnType<typeof open> | null = null;
function open() {
  return Deno.dlopen("libc.so.6", {
    posix_openpt: { parameters: ["i32"], result: "i32" },
    grantpt: { parameters: ["i32"], result: "i32" },
    unlockpt: { parameters: ["i32"], result: "i32" },
    ptsname: { parameters: ["i32"], result: "pointer" },
    read: { parameters: ["i32", "buffer", "usize"], result: "isize", nonblocking: true },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
  });
}

/** The master side of a new pty; the child opens `slave` by path. */
export class Pty {
  readonly master: number;
  readonly slave: string;
  #closed = false;

  constructor() {
    libc ??= open();
    const fd = libc.symbols.posix_openpt(O_RDWR | O_NOCTTY);
    if (fd < 0) throw new Error("Unable to open the PTY device: posix_openpt failed");
    if (libc.symbols.grantpt(fd) !== 0 || libc.symbols.unlockpt(fd) !== 0) {
      libc.symbols.close(fd);
      throw new Error("Unable to open the PTY device: grantpt/unlockpt failed");
    }
    const name = libc.symbols.ptsname(fd);
    if (name === null) throw new Error("Unable to open the PTY device: no slave name");
    this.master = fd;
    this.slave = Deno.UnsafePointerView.getCString(name);
  }

  /** Sets the window size; the foreground program gets SIGWINCH. */
  resize(cols: number, rows: number): void {
    if (this.#closed || cols <= 0 || rows <= 0) return;
    libc!.symbols.ioctl(this.master, TIOCSWINSZ, new Uint16Array([rows, cols, 0, 0]));
  }

  /** Reads output; null once every holder of the slave side is gone. */
  async read(): Promise<Uint8Array | null> {
    if (this.#closed) return null;
    const buf = new Uint8Array(32 * 1024);
    const n = Number(await libc!.symbols.read(this.master, buf, BigInt(buf.length)));
    if (n <= 0) return null;
    return buf.subarray(0, n);
  }

  /** Writes input (the terminal's keyboard). */
  write(data: Uint8Array): void {
    let off = 0;
    while (!this.#closed && off < data.length) {
      const chunk = data.subarray(off);
      const n = Number(libc!.symbols.write(this.master, chunk, BigInt(chunk.length)));
      if (n <= 0) return;
      off += n;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    libc!.symbols.close(this.master);
  }
}
