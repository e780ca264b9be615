/**
 * AES-128-OCB3 authenticated encryption (RFC 7253) with a 12-byte nonce and
 * a 16-byte tag, as Mosh uses it (docs/wire.md §2).
 *
 * Two implementations of the same function: the system's libcrypto through
 * FFI (ocb_native.ts, OpenSSL's EVP aes-128-ocb, as Mosh and OpenSSH use
 * it), and JavaScript on node:crypto's AES-ECB (ocb_js.ts), used where
 * libcrypto or the FFI permission is missing. Both check tags in constant
 * time and never hand out unauthenticated plaintext.
 * @module
 */

import { JsOcb } from "./ocb_js.ts";
import { NativeOcb } from "./ocb_native.ts";

/** Options for {@linkcode Ocb.seal} and {@linkcode Ocb.open}. */
export interface OcbOptions {
  /** Associated data: authenticated but not encrypted (Mosh uses none). */
  ad?: Uint8Array;
}

/** Options for {@linkcode Ocb.seal}. */
export interface OcbSealOptions extends OcbOptions {
  /** Zero bytes reserved before the ciphertext in the returned array (default 0). */
  headroom?: number;
  /** Seal into this array when it is large enough (the result is then a view of its start; the headroom is left as it was). */
  into?: Uint8Array;
}

/** Which implementation an {@linkcode Ocb} runs on. */
export type OcbBackend = "native" | "js";

/** AES-128-OCB3 sealer/opener bound to one key (RFC 7253, TAGLEN 128). */
export class Ocb {
  /** The implementation in use ("native": libcrypto). */
  readonly backend: OcbBackend;
  readonly #impl: NativeOcb | JsOcb;

  /** Binds an OCB context to a 16-byte AES key; `backend` "js" skips libcrypto (default: libcrypto when it loads). */
  constructor(key: Uint8Array, options: { backend?: OcbBackend } = {}) {
    const native = options.backend === "js" ? null : NativeOcb.create(key);
    this.#impl = native ?? new JsOcb(key);
    this.backend = native === null ? "js" : "native";
  }

  /** Encrypts and authenticates `plaintext`; returns [headroom ‖] ciphertext ‖ 16-byte tag. */
  seal(
    nonce: Uint8Array,
    plaintext: Uint8Array,
    options: OcbSealOptions = {},
  ): Uint8Array {
    return this.#impl.seal(nonce, plaintext, options);
  }

  /** Verifies and decrypts ciphertext ‖ tag; returns null if it is forged or too short. */
  open(
    nonce: Uint8Array,
    sealed: Uint8Array,
    options: OcbOptions = {},
  ): Uint8Array | null {
    return this.#impl.open(nonce, sealed, options);
  }
}
