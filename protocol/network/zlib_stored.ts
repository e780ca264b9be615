/**
 * The zlib format (RFC 1950) with one stored DEFLATE block (RFC 1951 §3.2.4,
 * "level 0"), written and read in plain JavaScript: for short instructions
 * (heartbeats, acks, keystrokes), where deflate saves a few bytes at most and
 * node:zlib's per-call stream objects cost most of an idle process's
 * JavaScript time (docs/architecture.md §12.1). Any zlib reader, stock Mosh's
 * `uncompress()` among them, inflates it.
 * @module
 */

/** zlib header: CM 8, CINFO 7 (32 KiB window), FLEVEL 0 (fastest), FCHECK; (0x78 << 8 | 0x01) % 31 === 0. */
const STORED_HEADER = [0x78, 0x01];
/** Header 2 + block header (BFINAL/BTYPE byte, LEN, NLEN) 5, bytes. */
const PREFIX_BYTES = 2 + 5;
/** Adler-32 trailer, bytes. */
const TRAILER_BYTES = 4;
/** Most bytes one stored block holds (RFC 1951 §3.2.4: LEN is 16 bits). */
export const STORED_BLOCK_MAX_BYTES = 0xffff;
/** Adler-32's modulus (RFC 1950 §8.2). */
const ADLER_BASE = 65521;
/** Bytes summed before reducing: the most that cannot overflow 2^53 (zlib's NMAX is 5552 for 32 bits). */
const ADLER_RUN = 5552;

/** Adler-32 of `data` (RFC 1950 §8.2). */
export function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < data.length;) {
    const end = Math.min(i + ADLER_RUN, data.length);
    for (; i < end; i++) {
      a += data[i];
      b += a;
    }
    a %= ADLER_BASE;
    b %= ADLER_BASE;
  }
  return (b * 65536 + a) >>> 0;
}

/** Wraps up to 65535 bytes as a zlib stream of one final stored block. */
export function storedZlib(data: Uint8Array): Uint8Array {
  const n = data.length;
  if (n > STORED_BLOCK_MAX_BYTES) {
    throw new RangeError(
      `tmosh: ${n} bytes do not fit one stored block (max ${STORED_BLOCK_MAX_BYTES})`,
    );
  }
  const out = new Uint8Array(PREFIX_BYTES + n + TRAILER_BYTES);
  out[0] = STORED_HEADER[0];
  out[1] = STORED_HEADER[1];
  out[2] = 0x01; // BFINAL 1, BTYPE 00 (stored)
  out[3] = n & 0xff;
  out[4] = n >>> 8;
  out[5] = ~n & 0xff;
  out[6] = (~n >>> 8) & 0xff;
  out.set(data, PREFIX_BYTES);
  new DataView(out.buffer).setUint32(PREFIX_BYTES + n, adler32(data));
  return out;
}

/**
 * The contents of a zlib stream that is exactly one final stored block (any
 * valid header without a preset dictionary, checksum verified), as zlib would
 * inflate it; null for anything else (other blocks, damage, trailing bytes),
 * which the caller hands to a full inflater. Never throws.
 */
export function inflateStored(data: Uint8Array): Uint8Array | null {
  if (data.length < PREFIX_BYTES + TRAILER_BYTES) return null;
  const cmf = data[0];
  const flg = data[1];
  if ((cmf & 0x0f) !== 8 || cmf >> 4 > 7) return null; // CM deflate, window <= 32 KiB
  if (((cmf << 8) | flg) % 31 !== 0 || (flg & 0x20) !== 0) return null; // FCHECK, FDICT
  if ((data[2] & 0x07) !== 0x01) return null; // one final stored block
  const n = data[3] | (data[4] << 8);
  if ((data[5] | (data[6] << 8)) !== (~n & 0xffff)) return null;
  if (data.length !== PREFIX_BYTES + n + TRAILER_BYTES) return null;
  const out = data.slice(PREFIX_BYTES, PREFIX_BYTES + n);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return view.getUint32(PREFIX_BYTES + n) === adler32(out) ? out : null;
}
