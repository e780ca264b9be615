/**
 * Writing to the process's standard streams: whole texts, in order, and
 * without failing when the reader has gone away.
 * @module
 */

const encoder = new TextEncoder();

/** Writes all of `text` to `stream` synchronously; a closed reader (ssh gone) is ignored. */
export function writeAll(
  stream: { writeSync(p: Uint8Array): number },
  text: string,
): void {
  const bytes = encoder.encode(text);
  let off = 0;
  try {
    while (off < bytes.length) off += stream.writeSync(bytes.subarray(off));
  } catch {
    // The reader went away; there is nobody left to tell.
  }
}
