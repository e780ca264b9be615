/**
 * Crypto-layer constants, each with its unit and Mosh 1.4's name
 * (mosh: src/crypto/crypto.h, src/crypto/base64.h).
 * @module
 */

/** Session key length, bytes (mosh: Base64Key). */
export const KEY_BYTES = 16;

/** Printable session key length, base64 characters without padding (mosh: Base64Key). */
export const KEY_CHARS = 22;

/** OCB nonce length, bytes (mosh: Session::Session). */
export const NONCE_BYTES = 12;

/** OCB tag length, bytes (mosh: Session::Session). */
export const TAG_BYTES = 16;
