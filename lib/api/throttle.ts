/**
 * Slows down trust password guessing: attempts from one address are answered one at a time,
 * and a wrong password holds that address's turn for FAILURE_DELAY_MS. A guesser gets about one
 * try a second per address; a user who typed the password right is not delayed.
 */
export const FAILURE_DELAY_MS = 1000;

const queues = new Map<string, Promise<void>>();

function hostOf(address: string): string {
  // "ip:port" or "[v6]:port": the port changes with every connection, the host does not.
  const m = /^\[?(.*?)\]?:\d+$/.exec(address);
  return m ? m[1]! : address;
}

/** Runs check (true = the password was right) in the address's turn; waits out a failure. */
export async function throttledCheck(address: string, check: () => Promise<boolean>): Promise<boolean> {
  const host = hostOf(address);
  const before = queues.get(host) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const tail = before.then(() => mine);
  queues.set(host, tail);
  await before;
  try {
    const ok = await check();
    if (!ok) await new Promise((r) => setTimeout(r, FAILURE_DELAY_MS));
    return ok;
  } finally {
    release();
    if (queues.get(host) === tail) queues.delete(host);
  }
}
