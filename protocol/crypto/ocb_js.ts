/**
 * AES-128-OCB3 (RFC 7253) in JavaScript: the fallback of ocb.ts where the
 * system's libcrypto cannot be loaded (ocb_native.ts).
 *
 * Deno's `node:crypto` has no OCB mode, so this builds OCB3 on one
 * long-lived `aes-128-ecb` cipher and decipher. Every offset of a message is
 * computed first, the blocks are whitened, and all of them go through the
 * native ECB code in a single `update()` call; only the XOR work runs in
 * JavaScript, on 32-bit words.
 * @module
 */

import { KEY_BYTES, NONCE_BYTES, TAG_BYTES } from "./constants.ts";
import { output } from "./ocb_native.ts";

/** Options of a message: associated data (authenticated, not encrypted). */
export interface JsOcbOptions {
  ad?: Uint8Array;
}

type EcbStream = { update(data: Uint8Array): Uint8Array };
/** The internal switch of Deno's node:crypto streams for modes with a block cache. */
type BlockCached = { _needsBlockCache?: boolean };

/** Deno's Node layer, as far as this module uses it. */
type NodeProcess = {
  getBuiltinModule(name: "node:crypto"): typeof import("node:crypto");
};
let nodeCrypto: typeof import("node:crypto") | null = null;
/** node:crypto, loaded on first use: a process that seals through libcrypto (ocb_native.ts) never starts Deno's Node layer for it (the first `node:` import costs about 45 ms of start-up). */
function crypto(): typeof import("node:crypto") {
  const process = (globalThis as unknown as { process: NodeProcess }).process;
  return nodeCrypto ??= process.getBuiltinModule("node:crypto");
}

const BLOCK = 16;
/** Number of L_i values precomputed; block indices are < 2^32. */
const L_COUNT = 32;
const EMPTY = new Uint8Array(0);

/** Multiplies a 16-byte block by x in GF(2^128) (RFC 7253 `double`). */
function double(block: Uint8Array): Uint8Array {
  const out = new Uint8Array(BLOCK);
  for (let i = 0; i < BLOCK - 1; i++) {
    out[i] = ((block[i] << 1) | (block[i + 1] >>> 7)) & 0xff;
  }
  out[BLOCK - 1] = ((block[BLOCK - 1] << 1) & 0xff) ^
    ((block[0] >>> 7) * 0x87);
  return out;
}

/** Number of trailing zero bits of a positive 32-bit integer. */
function ntz(i: number): number {
  return 31 - Math.clz32(i & -i);
}

/** Views bytes as 32-bit words, copying only if the offset is unaligned. */
function words(bytes: Uint8Array): Uint32Array {
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  return new Uint32Array(
    aligned.buffer,
    aligned.byteOffset,
    bytes.length >>> 2,
  );
}

/** Compares two 16-byte tags in constant time. */
function tagsEqual(a: Uint8Array, aOff: number, b: Uint8Array): boolean {
  let diff = 0;
  for (let i = 0; i < TAG_BYTES; i++) diff |= a[aOff + i] ^ b[i];
  return diff === 0;
}

/** XORs `count` blocks of `src` from word `from` into the block at `dst[at]`. */
function sumBlocks(
  src: Uint32Array,
  from: number,
  count: number,
  dst: Uint32Array,
  at: number,
): void {
  let d0 = dst[at], d1 = dst[at + 1], d2 = dst[at + 2], d3 = dst[at + 3];
  for (let j = 0, w = from; j < count; j++, w += 4) {
    d0 ^= src[w];
    d1 ^= src[w + 1];
    d2 ^= src[w + 2];
    d3 ^= src[w + 3];
  }
  dst[at] = d0;
  dst[at + 1] = d1;
  dst[at + 2] = d2;
  dst[at + 3] = d3;
}

/** Writes `out[k] ^ offs[k]` into `dst` (C_i or P_i from the cipher's output and the offsets). */
function unwhiten(out: Uint32Array, offs: Uint32Array, dst: Uint32Array): void {
  for (let k = 0; k < dst.length; k++) dst[k] = out[k] ^ offs[k];
}

/** As unwhiten, and XORs every block written into `sum` (the checksum of the plaintext). */
function unwhitenSum(
  out: Uint32Array,
  offs: Uint32Array,
  dst: Uint32Array,
  sum: Uint32Array,
): void {
  let s0 = sum[0], s1 = sum[1], s2 = sum[2], s3 = sum[3];
  for (let k = 0; k < dst.length; k += 4) {
    const a = out[k] ^ offs[k], b = out[k + 1] ^ offs[k + 1];
    const c = out[k + 2] ^ offs[k + 2], d = out[k + 3] ^ offs[k + 3];
    dst[k] = a;
    dst[k + 1] = b;
    dst[k + 2] = c;
    dst[k + 3] = d;
    s0 ^= a;
    s1 ^= b;
    s2 ^= c;
    s3 ^= d;
  }
  sum[0] = s0;
  sum[1] = s1;
  sum[2] = s2;
  sum[3] = s3;
}

/** AES-128-OCB3 sealer/opener bound to one key (RFC 7253, TAGLEN 128), in JavaScript. */
export class JsOcb {
  #enc: EcbStream;
  #dec: EcbStream;
  /** L_* then L_$, 8 words. */
  #lStarDollar: Uint32Array;
  /** L_0 .. L_{L_COUNT-1}, 4 words each. */
  #l: Uint32Array;
  /** Cached nonce block (low 6 bits of the last byte cleared) and its Stretch. */
  #ktopNonce = new Uint8Array(BLOCK);
  #stretch = new Uint8Array(24);
  #ktopValid = false;
  /** The running offset of the current message (starts as Offset_0). */
  #offBytes = new Uint8Array(BLOCK);
  #off = new Uint32Array(this.#offBytes.buffer);
  /** Checksum and AD hash of the current message. */
  #sum = new Uint32Array(4);
  #hash = new Uint32Array(4);
  /** One-block scratch. */
  #block = new Uint8Array(BLOCK);
  #blockw = new Uint32Array(this.#block.buffer);
  /** Scratch, grown on demand: block input for ECB and per-block offsets. */
  #scratch = new Uint32Array(0);
  #offsets = new Uint32Array(0);

  /** Binds an OCB context to a 16-byte AES key. */
  constructor(key: Uint8Array) {
    if (key.length !== KEY_BYTES) {
      throw new Error(
        `tmosh: OCB key must be ${KEY_BYTES} bytes, got ${key.length}; pass a decoded session key`,
      );
    }
    const enc = crypto().createCipheriv("aes-128-ecb", key, null);
    enc.setAutoPadding(false);
    const dec = crypto().createDecipheriv("aes-128-ecb", key, null);
    dec.setAutoPadding(false);
    // Deno's node:crypto copies every ECB input into a fresh block-cache
    // buffer first, to hold back a partial block (a profile of a forwarded
    // transfer shows it as "add", 3-4% of each side's time). Our inputs are
    // always whole blocks, so the native cipher may take them directly; the
    // switch is internal to Deno, and where it is missing nothing changes.
    for (const stream of [enc, dec] as unknown as BlockCached[]) {
      if (stream._needsBlockCache === true) stream._needsBlockCache = false;
    }
    this.#enc = enc;
    this.#dec = dec;

    const lStar = this.#encipher(new Uint8Array(BLOCK));
    const lDollar = double(lStar);
    const sd = new Uint8Array(2 * BLOCK);
    sd.set(lStar, 0);
    sd.set(lDollar, BLOCK);
    this.#lStarDollar = new Uint32Array(sd.buffer);
    const l = new Uint8Array(L_COUNT * BLOCK);
    let li = double(lDollar);
    for (let i = 0; i < L_COUNT; i++) {
      l.set(li, i * BLOCK);
      li = double(li);
    }
    this.#l = new Uint32Array(l.buffer);
  }

  /** Encrypts and authenticates `plaintext`; returns [headroom ‖] ciphertext ‖ 16-byte tag. */
  seal(
    nonce: Uint8Array,
    plaintext: Uint8Array,
    options: JsOcbOptions & { headroom?: number; into?: Uint8Array } = {},
  ): Uint8Array {
    this.#setNonce(nonce);
    const n = plaintext.length;
    const m = n >>> 4;
    const rem = n & 15;
    const main = m * BLOCK;
    const ad = options.ad ?? EMPTY;
    const adBlocks = (ad.length + 15) >>> 4;
    // One ECB call over: m data blocks, [Offset_* for the pad], tag block, AD blocks.
    const total = m + (rem ? 1 : 0) + 1 + adBlocks;
    const inp = this.#scratchWords(total * 4);
    const inpBytes = new Uint8Array(inp.buffer, 0, total * BLOCK);
    inpBytes.set(plaintext.subarray(0, main));
    const sum = this.#sum;
    sum.fill(0);
    sumBlocks(inp, 0, m, sum, 0);
    const offs = this.#whiten(inp, m);
    const off = this.#off;
    const sd = this.#lStarDollar;
    let w = m * 4;
    if (rem) {
      sumBlocks(sd, 0, 1, off, 0); // Offset_* = Offset_m ^ L_*
      inp.set(off, w);
      w += 4;
      // Checksum ^= P_* ‖ 1 ‖ 0…, staged in the tag slot.
      inpBytes.fill(0, w * 4, w * 4 + BLOCK);
      inpBytes.set(plaintext.subarray(main), w * 4);
      inpBytes[w * 4 + rem] = 0x80;
      sumBlocks(inp, w, 1, sum, 0);
    }
    for (let k = 0; k < 4; k++) inp[w + k] = sum[k] ^ off[k] ^ sd[4 + k];
    this.#whitenAd(ad, inpBytes, inp, w + 4);

    const out = words(this.#enc.update(inpBytes));
    sumBlocks(out, w + 4, adBlocks, out, w); // Tag ^= HASH(K, A)
    const outBytes = new Uint8Array(out.buffer, out.byteOffset, total * BLOCK);
    const head = options.headroom ?? 0;
    const result = output(head + n + TAG_BYTES, options.into);
    const at = result.byteOffset + head;
    if (at % 4 === 0) {
      unwhiten(out, offs, new Uint32Array(result.buffer, at, m * 4));
    } else {
      for (let k = 0; k < m * 4; k++) out[k] ^= offs[k];
      result.set(outBytes.subarray(0, main), head);
    }
    for (let k = main; k < n; k++) {
      result[head + k] = plaintext[k] ^ outBytes[k];
    }
    result.set(outBytes.subarray(w * 4, w * 4 + BLOCK), head + n);
    return result;
  }

  /** Verifies and decrypts ciphertext ‖ tag; returns null if it is forged or too short. */
  open(
    nonce: Uint8Array,
    sealed: Uint8Array,
    options: JsOcbOptions = {},
  ): Uint8Array | null {
    if (sealed.length < TAG_BYTES || nonce.length !== NONCE_BYTES) return null;
    this.#setNonce(nonce);
    const n = sealed.length - TAG_BYTES;
    const m = n >>> 4;
    const rem = n & 15;
    const main = m * BLOCK;
    const ad = options.ad ?? EMPTY;
    const adBlocks = (ad.length + 15) >>> 4;
    const result = new Uint8Array(n);
    const sum = this.#sum;
    sum.fill(0);
    if (m > 0) {
      // One decipher call over all full blocks.
      const inp = this.#scratchWords(m * 4);
      const inpBytes = new Uint8Array(inp.buffer, 0, main);
      inpBytes.set(sealed.subarray(0, main));
      const offs = this.#whiten(inp, m);
      const out = words(this.#dec.update(inpBytes));
      unwhitenSum(out, offs, new Uint32Array(result.buffer, 0, m * 4), sum);
    }

    // One cipher call over [Offset_* for the pad] and the AD blocks.
    const off = this.#off;
    const sd = this.#lStarDollar;
    const hash = this.#hash;
    hash.fill(0);
    const second = (rem ? 1 : 0) + adBlocks;
    if (second > 0) {
      const inp = this.#scratchWords(second * 4);
      const inpBytes = new Uint8Array(inp.buffer, 0, second * BLOCK);
      if (rem) {
        sumBlocks(sd, 0, 1, off, 0); // Offset_* = Offset_m ^ L_*
        inp.set(off, 0);
      }
      const w = rem ? 4 : 0;
      this.#whitenAd(ad, inpBytes, inp, w);
      const out = words(this.#enc.update(inpBytes));
      if (rem) {
        const pad = new Uint8Array(out.buffer, out.byteOffset, BLOCK);
        const block = this.#block;
        block.fill(0);
        for (let k = 0; k < rem; k++) {
          block[k] = result[main + k] = sealed[main + k] ^ pad[k];
        }
        block[rem] = 0x80;
        sumBlocks(this.#blockw, 0, 1, sum, 0);
      }
      sumBlocks(out, w, adBlocks, hash, 0);
    }

    const tagIn = this.#blockw;
    for (let k = 0; k < 4; k++) tagIn[k] = sum[k] ^ off[k] ^ sd[4 + k];
    const tag = words(this.#enc.update(this.#block));
    sumBlocks(hash, 0, 1, tag, 0);
    const tagBytes = new Uint8Array(tag.buffer, tag.byteOffset, BLOCK);
    if (!tagsEqual(sealed, n, tagBytes)) {
      result.fill(0); // never hand out unauthenticated plaintext
      return null;
    }
    return result;
  }

  /** Encrypts one block with the raw AES key. */
  #encipher(block: Uint8Array): Uint8Array {
    return new Uint8Array(this.#enc.update(block));
  }

  /** Sets the running offset to Offset_0 of a 12-byte nonce (Ktop is cached). */
  #setNonce(nonce: Uint8Array): void {
    if (nonce.length !== NONCE_BYTES) {
      throw new Error(
        `tmosh: OCB nonce must be ${NONCE_BYTES} bytes, got ${nonce.length}`,
      );
    }
    // Nonce block = 0x00000001 ‖ N (TAGLEN 128 ⇒ leading 7 bits are zero).
    const kn = this.#ktopNonce;
    const last = nonce[NONCE_BYTES - 1];
    let same = this.#ktopValid && kn[BLOCK - 1] === (last & 0xc0);
    for (let i = 0; i < NONCE_BYTES - 1 && same; i++) {
      same = kn[4 + i] === nonce[i];
    }
    if (!same) {
      kn.fill(0, 0, 4);
      kn[3] = 1;
      kn.set(nonce, 4);
      kn[BLOCK - 1] &= 0xc0;
      const ktop = this.#encipher(kn);
      const st = this.#stretch;
      st.set(ktop, 0);
      for (let i = 0; i < 8; i++) st[BLOCK + i] = ktop[i] ^ ktop[i + 1];
      this.#ktopValid = true;
    }
    // Offset_0 = Stretch[1+bottom .. 128+bottom] (bit positions).
    const bottom = last & 0x3f;
    const st = this.#stretch;
    const byteShift = bottom >>> 3;
    const bitShift = bottom & 7;
    const o = this.#offBytes;
    for (let i = 0; i < BLOCK; i++) {
      const hi = st[i + byteShift];
      const lo = st[i + byteShift + 1];
      o[i] = bitShift
        ? ((hi << bitShift) | (lo >>> (8 - bitShift))) & 0xff
        : hi;
    }
  }

  /**
   * Advances the running offset through blocks 1..m, saving each Offset_i
   * and XORing it into block i of `inp`; returns the saved offsets.
   */
  #whiten(inp: Uint32Array, m: number): Uint32Array {
    const offs = this.#offsetWords(m * 4);
    const L = this.#l;
    const off = this.#off;
    let o0 = off[0], o1 = off[1], o2 = off[2], o3 = off[3];
    for (let i = 1, w = 0; i <= m; i++, w += 4) {
      const l = ntz(i) << 2;
      o0 ^= L[l];
      o1 ^= L[l + 1];
      o2 ^= L[l + 2];
      o3 ^= L[l + 3];
      offs[w] = o0;
      offs[w + 1] = o1;
      offs[w + 2] = o2;
      offs[w + 3] = o3;
      inp[w] ^= o0;
      inp[w + 1] ^= o1;
      inp[w + 2] ^= o2;
      inp[w + 3] ^= o3;
    }
    off[0] = o0;
    off[1] = o1;
    off[2] = o2;
    off[3] = o3;
    return offs;
  }

  /** Writes the whitened AD blocks (HASH inputs) into `inp` from word `w`. */
  #whitenAd(
    ad: Uint8Array,
    inpBytes: Uint8Array,
    inp: Uint32Array,
    w: number,
  ): void {
    if (ad.length === 0) return;
    const full = ad.length >>> 4;
    const rem = ad.length & 15;
    inpBytes.fill(0, w * 4, w * 4 + (full + (rem ? 1 : 0)) * BLOCK);
    inpBytes.set(ad, w * 4);
    if (rem) inpBytes[w * 4 + full * BLOCK + rem] = 0x80;
    const L = this.#l;
    let o0 = 0, o1 = 0, o2 = 0, o3 = 0;
    for (let i = 1; i <= full; i++, w += 4) {
      const l = ntz(i) << 2;
      o0 ^= L[l];
      o1 ^= L[l + 1];
      o2 ^= L[l + 2];
      o3 ^= L[l + 3];
      inp[w] ^= o0;
      inp[w + 1] ^= o1;
      inp[w + 2] ^= o2;
      inp[w + 3] ^= o3;
    }
    if (rem) {
      const sd = this.#lStarDollar;
      inp[w] ^= o0 ^ sd[0];
      inp[w + 1] ^= o1 ^ sd[1];
      inp[w + 2] ^= o2 ^ sd[2];
      inp[w + 3] ^= o3 ^ sd[3];
    }
  }

  /** Returns a scratch word buffer of at least `n` words. */
  #scratchWords(n: number): Uint32Array {
    if (this.#scratch.length < n) this.#scratch = new Uint32Array(n * 2);
    return this.#scratch;
  }

  /** Returns an offsets word buffer of at least `n` words. */
  #offsetWords(n: number): Uint32Array {
    if (this.#offsets.length < n) this.#offsets = new Uint32Array(n * 2);
    return this.#offsets;
  }
}
