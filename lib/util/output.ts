/** Writes all of text to stdout: writeSync may write only part of a buffer to a pipe. */
export function writeStdout(text: string | Uint8Array): void {
  writeAllSync(Deno.stdout, text);
}

/** Writes all of text to w (stdout, stderr, a file), however little each writeSync takes. */
export function writeAllSync(w: { writeSync(p: Uint8Array): number }, text: string | Uint8Array): void {
  let bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  while (bytes.length > 0) bytes = bytes.subarray(w.writeSync(bytes));
}
