/** Writes all of text to stdout: writeSync may write only part of a buffer to a pipe. */
export function writeStdout(text: string | Uint8Array): void {
  let bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  while (bytes.length > 0) bytes = bytes.subarray(Deno.stdout.writeSync(bytes));
}
