/**
 * The session key: 16 random bytes, printed as 22 base64 characters (the
 * `MOSH CONNECT` form, docs/wire.md §1.9).
 * @module
 */

import { KEY_BYTES, KEY_CHARS } from "./constants.ts";

const ALPHABET =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const VALUES = new Map<string, number>(
  Array.from(ALPHABET, (ch, i) => [ch, i] as [string, number]),
);

/** Returns a fresh random 16-byte session key. */
export function generateKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(KEY_BYTES));
}

/** Encodes a 16-byte key as 22 base64 characters (standard alphabet, no `==`). */
export function encodeKey(key: Uint8Array): string {
  if (key.length !== KEY_BYTES) {
    throw new Error(
      `tmosh: session key must be ${KEY_BYTES} bytes, got ${key.length}; use generateKey()`,
    );
  }
  let out = "";
  for (let i = 0; i < KEY_BYTES; i += 3) {
    const b0 = key[i];
    const b1 = i + 1 < KEY_BYTES ? key[i + 1] : 0;
    const b2 = i + 2 < KEY_BYTES ? key[i + 2] : 0;
    const v = (b0 << 16) | (b1 << 8) | b2;
    out += ALPHABET[(v >>> 18) & 63] + ALPHABET[(v >>> 12) & 63];
    if (i + 1 < KEY_BYTES) out += ALPHABET[(v >>> 6) & 63];
    if (i + 2 < KEY_BYTES) out += ALPHABET[v & 63];
  }
  return out;
}

function badKey(why: string): Error {
  return new Error(
    `tmosh: bad session key: ${why}; expected ${KEY_CHARS} base64 characters as printed in MOSH CONNECT`,
  );
}

/**
 * Decodes a printable session key, accepting only the canonical 22-character
 * form Mosh accepts. Error messages never contain the key text.
 */
export function decodeKey(text: string): Uint8Array {
  if (text.length !== KEY_CHARS) {
    throw badKey(`it is ${text.length} characters long`);
  }
  const key = new Uint8Array(KEY_BYTES);
  let acc = 0;
  let bits = 0;
  let at = 0;
  for (let i = 0; i < KEY_CHARS; i++) {
    const v = VALUES.get(text[i]);
    if (v === undefined) {
      throw badKey(`character ${i + 1} is not in the base64 alphabet`);
    }
    acc = ((acc << 6) | v) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      key[at++] = (acc >>> bits) & 0xff;
    }
  }
  // 22 characters carry 132 bits: 128 key bits plus 4 that must be zero.
  if (at !== KEY_BYTES || (acc & ((1 << bits) - 1)) !== 0) {
    throw badKey(
      "it does not encode exactly 128 bits (last character must be A, Q, g or w)",
    );
  }
  if (encodeKey(key) !== text) {
    throw badKey("it is not in canonical form");
  }
  return key;
}
