/**
 * AES-128-OCB3 through the system's libcrypto (OpenSSL's EVP `aes-128-ocb`,
 * the implementation Mosh and OpenSSH link), over Deno FFI: one encrypt and
 * one decrypt context per key, the key schedule set once, each message a
 * nonce, one update over the whole text, a final and the tag. OpenSSL's
 * decrypt final compares the tag in constant time (CRYPTO_memcmp).
 *
 * {@linkcode openNativeOcb} returns null where the library or the FFI
 * permission is missing; ocb.ts then uses the JavaScript implementation.
 * @module
 */

import { KEY_BYTES, NONCE_BYTES, TAG_BYTES } from "./constants.ts";

/** libcrypto's file names, newest first (OpenSSL 3, then 1.1). */
const LIBRARIES = ["libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so"];

/** EVP_CIPHER_CTX_ctrl: set the nonce length (OpenSSL's EVP_CTRL_AEAD_SET_IVLEN). */
const CTRL_SET_IVLEN = 0x9;
/** EVP_CIPHER_CTX_ctrl: read the tag after encrypting (EVP_CTRL_AEAD_GET_TAG). */
const CTRL_GET_TAG = 0x10;
/** EVP_CIPHER_CTX_ctrl: the expected tag before decrypting (EVP_CTRL_AEAD_SET_TAG). */
const CTRL_SET_TAG = 0x11;
/** EVP_CipherInit_ex's `enc`: keep the context's direction. */
const KEEP_DIRECTION = -1;

const SYMBOLS = {
  EVP_aes_128_ocb: { parameters: [], result: "pointer" },
  EVP_CIPHER_CTX_new: { parameters: [], result: "pointer" },
  EVP_CIPHER_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_CipherInit_ex: {
    parameters: ["pointer", "pointer", "pointer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  EVP_CIPHER_CTX_ctrl: {
    parameters: ["pointer", "i32", "i32", "buffer"],
    result: "i32",
  },
  EVP_CipherUpdate: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  EVP_CipherFinal_ex: {
    parameters: ["pointer", "buffer", "buffer"],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

type Crypto = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** The library once opened; null: tried and unavailable. */
let library: Crypto | null | undefined;

function libcrypto(): Crypto | null {
  if (library !== undefined) return library;
  library = null;
  try {
    // Never a permission prompt: without FFI granted, JavaScript serves.
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      return null;
    }
  } catch {
    return null;
  }
  for (const name of LIBRARIES) {
    try {
      library = Deno.dlopen(name, SYMBOLS).symbols;
      break;
    } catch {
      // not this name, or no FFI permission: try the next, else JavaScript
    }
  }
  return library;
}

/** Frees a context once its owner is collected. */
const contexts = new FinalizationRegistry<Deno.PointerValue>((ctx) => {
  library?.EVP_CIPHER_CTX_free(ctx);
});

/** Options of a sealed or opened message. */
export interface NativeOcbOptions {
  /** Associated data (authenticated, not encrypted). */
  ad?: Uint8Array;
}

/** An OCB sealer/opener on libcrypto; see the module doc. */
export class NativeOcb {
  readonly #lib: Crypto;
  readonly #enc: Deno.PointerValue;
  readonly #dec: Deno.PointerValue;
  /** The out-length argument of EVP_CipherUpdate / Final. */
  readonly #outl = new Int32Array(1);
  readonly #outlBytes = new Uint8Array(this.#outl.buffer);

  private constructor(
    lib: Crypto,
    enc: Deno.PointerValue,
    dec: Deno.PointerValue,
  ) {
    this.#lib = lib;
    this.#enc = enc;
    this.#dec = dec;
  }

  /** An OCB context for a 16-byte key, or null without libcrypto (or FFI permission). */
  static create(key: Uint8Array): NativeOcb | null {
    const lib = libcrypto();
    if (lib === null || key.length !== KEY_BYTES) return null;
    const cipher = lib.EVP_aes_128_ocb();
    const enc = newContext(lib, cipher, key, 1);
    const dec = enc === null ? null : newContext(lib, cipher, key, 0);
    if (enc === null || dec === null) {
      if (enc !== null) lib.EVP_CIPHER_CTX_free(enc);
      return null;
    }
    const ocb = new NativeOcb(lib, enc, dec);
    contexts.register(ocb, enc);
    contexts.register(ocb, dec);
    return ocb;
  }

  /** Encrypts and authenticates; returns [headroom ‖] ciphertext ‖ tag. */
  seal(
    nonce: Uint8Array,
    plaintext: Uint8Array,
    options: NativeOcbOptions & { headroom?: number; into?: Uint8Array } = {},
  ): Uint8Array {
    const lib = this.#lib, ctx = this.#enc;
    const head = options.headroom ?? 0;
    const n = plaintext.length;
    const result = output(head + n + TAG_BYTES, options.into);
    this.#start(ctx, nonce, options.ad);
    let done = 0;
    if (n > 0) {
      const out = head === 0 ? result : result.subarray(head);
      this.#check(
        lib.EVP_CipherUpdate(ctx, out, this.#outlBytes, plaintext, n),
      );
      done = this.#outl[0];
    }
    this.#check(
      lib.EVP_CipherFinal_ex(
        ctx,
        result.subarray(head + done),
        this.#outlBytes,
      ),
    );
    if (done + this.#outl[0] !== n) throw new Error("tmosh: OCB seal short");
    this.#check(
      lib.EVP_CIPHER_CTX_ctrl(
        ctx,
        CTRL_GET_TAG,
        TAG_BYTES,
        result.subarray(head + n),
      ),
    );
    return result;
  }

  /** Verifies and decrypts ciphertext ‖ tag; null if forged or too short. */
  open(
    nonce: Uint8Array,
    sealed: Uint8Array,
    options: NativeOcbOptions = {},
  ): Uint8Array | null {
    if (sealed.length < TAG_BYTES || nonce.length !== NONCE_BYTES) return null;
    const lib = this.#lib, ctx = this.#dec;
    const n = sealed.length - TAG_BYTES;
    const result = new Uint8Array(n);
    this.#start(ctx, nonce, options.ad);
    this.#check(
      lib.EVP_CIPHER_CTX_ctrl(ctx, CTRL_SET_TAG, TAG_BYTES, sealed.subarray(n)),
    );
    let done = 0;
    if (n > 0) {
      this.#check(
        lib.EVP_CipherUpdate(ctx, result, this.#outlBytes, sealed, n),
      );
      done = this.#outl[0];
    }
    const ok = lib.EVP_CipherFinal_ex(
      ctx,
      result.subarray(done),
      this.#outlBytes,
    );
    if (ok !== 1 || done + this.#outl[0] !== n) {
      result.fill(0); // never hand out unauthenticated plaintext
      return null;
    }
    return result;
  }

  /** Sets the nonce (the key schedule stays) and feeds the associated data. */
  #start(
    ctx: Deno.PointerValue,
    nonce: Uint8Array,
    ad: Uint8Array | undefined,
  ): void {
    if (nonce.length !== NONCE_BYTES) {
      throw new Error(
        `tmosh: OCB nonce must be ${NONCE_BYTES} bytes, got ${nonce.length}`,
      );
    }
    this.#check(
      this.#lib.EVP_CipherInit_ex(ctx, null, null, null, nonce, KEEP_DIRECTION),
    );
    if (ad !== undefined && ad.length > 0) {
      this.#check(
        this.#lib.EVP_CipherUpdate(ctx, null, this.#outlBytes, ad, ad.length),
      );
    }
  }

  #check(status: number): void {
    if (status !== 1) throw new Error("tmosh: libcrypto OCB call failed");
  }
}

/** A view of the start of `into` when it holds `size` bytes, else a new array. */
export function output(size: number, into: Uint8Array | undefined): Uint8Array {
  return into !== undefined && into.length >= size
    ? into.subarray(0, size)
    : new Uint8Array(size);
}

/** A context of `cipher` with `key` and a 12-byte nonce length; `enc` 1 encrypts, 0 decrypts. */
function newContext(
  lib: Crypto,
  cipher: Deno.PointerValue,
  key: Uint8Array,
  enc: 0 | 1,
): Deno.PointerValue | null {
  const ctx = lib.EVP_CIPHER_CTX_new();
  if (ctx === null) return null;
  const ok = lib.EVP_CipherInit_ex(ctx, cipher, null, null, null, enc) === 1 &&
    lib.EVP_CIPHER_CTX_ctrl(ctx, CTRL_SET_IVLEN, NONCE_BYTES, null) === 1 &&
    lib.EVP_CipherInit_ex(ctx, null, null, key, null, enc) === 1;
  if (!ok) {
    lib.EVP_CIPHER_CTX_free(ctx);
    return null;
  }
  return ctx;
}
