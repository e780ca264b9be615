/**
 * Seeded hostile terminal output for the wire fuzzer (harness/wire_fuzzer.ts):
 * what a broken or malicious program may write to a terminal. Huge and
 * overflowing parameters (CSI 99999999999;...m, 2^31, 2^64), thousands of
 * parameters and sub-parameters, repeat counts (REP) and line/char
 * insert/delete counts far beyond the screen, deep nesting (ESC [ inside
 * ESC [, OSC inside DCS inside OSC), unterminated OSC/DCS/APC/PM/SOS strings,
 * huge titles and OSC 52 payloads, broken and overlong UTF-8, C1 controls,
 * raw random bytes, requests that make a terminal answer (DA, DSR), and the
 * valid tokens of harness/terminal_soup.ts mixed in so the emulator is in
 * many different states when the hostile parts arrive.
 *
 * Unlike terminal_soup.ts nothing here has to keep the stream well formed:
 * pieces are concatenated as bytes and may cut each other anywhere.
 * @module
 */

import { mulberry32 } from "./prng.ts";
import { soupCase } from "./terminal_soup.ts";

const encoder = new TextEncoder();

/** Parameters that overflow 16, 31, 32 and 64 bits, or are merely absurd. */
const HUGE = [
  "99999999999",
  "2147483647",
  "2147483648",
  "4294967295",
  "4294967296",
  "18446744073709551615",
  "18446744073709551616",
  "65535",
  "65536",
  "999999999999999999999999999999",
  "-1",
  "0",
];
/** CSI final bytes, including every one that takes a count. */
const FINALS = [..."@ABCDEFGHIJKLMPSTXZ`abcdefghilmnpqrstuxyz{|}~"];
/** String introducers: OSC, DCS, APC, PM, SOS (7-bit), and their C1 forms. */
const STRINGS = [
  "\x1b]",
  "\x1bP",
  "\x1b_",
  "\x1b^",
  "\x1bX",
  "\x9d",
  "\x90",
  "\x9f",
];

/** A seeded generator of hostile pieces. */
class Hostile {
  readonly #r: () => number;
  readonly #seed: number;

  constructor(seed: number) {
    this.#seed = seed;
    this.#r = mulberry32(seed ^ 0x5eed50f);
  }

  int(n: number): number {
    return Math.floor(this.#r() * n);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }

  /** `n` raw random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }

  /** A parameter: huge, or sometimes small, empty or with sub-parameters. */
  param(): string {
    const k = this.int(10);
    if (k < 5) return this.pick(HUGE);
    if (k < 7) return String(this.int(10));
    if (k < 8) return "";
    return `${this.pick(HUGE)}:${this.pick(HUGE)}:${this.int(300)}`;
  }

  /** A CSI with huge, many, or private-marked parameters. */
  csi(): string {
    const prefix = this.pick(["", "", "", "?", ">", "=", "<"]);
    const n = this.int(10) === 0 ? 1000 + this.int(40000) : 1 + this.int(6);
    const params: string[] = [];
    for (let i = 0; i < n; i++) params.push(this.param());
    const inter = this.int(8) === 0 ? this.pick([" ", "!", '"', "$", "'"]) : "";
    return `\x1b[${prefix}${params.join(";")}${inter}${this.pick(FINALS)}`;
  }

  /** Counted functions with counts far beyond any screen, after some text to repeat or shift. */
  counts(): string {
    const f = this.pick([..."@LMPSTXbIZEFABCD"]);
    return `${this.pick(["x", "字", "e\u0301", "👍"])}\x1b[${
      this.pick(HUGE)
    }${f}`;
  }

  /** Escape sequences nested inside each other, never finished properly. */
  nesting(): string {
    const depth = 10 + this.int(this.int(4) === 0 ? 20000 : 200);
    const open = this.pick([
      "\x1b[",
      "\x1b[1;",
      "\x1b]0;",
      "\x1bP1$q",
      "\x1b]52;c;",
      "\x1b[?",
      "\x1b",
      "\x9b",
    ]);
    return open.repeat(depth) + this.pick(["", "m", "\x07", "\x1b\\", "A"]);
  }

  /** An OSC/DCS/APC/PM/SOS string that is never terminated (or is, after a lot). */
  unterminated(): string {
    const start = this.pick(STRINGS);
    const what = this.pick(["0;", "2;", "52;c;", "8;;http://x/", "1337;", ""]);
    const len = this.int(4) === 0
      ? 100_000 + this.int(900_000)
      : this.int(3000);
    const fill = this.pick(["A", "ab", "QUJD", "字", "\x1b[", ";"]);
    const body = fill.repeat(Math.ceil(len / fill.length)).slice(0, len);
    const end = this.pick(["", "", "", "\x07", "\x1b\\", "\x9c", "\x18"]);
    return start + what + body + end;
  }

  /** Titles and clipboard contents far over any limit. */
  hugeTitle(): string {
    const n = 1000 + this.int(200_000);
    return this.pick(["\x1b]0;", "\x1b]2;", "\x1b]52;c;"]) + "T".repeat(n) +
      this.pick(["\x07", "\x1b\\"]);
  }

  /** Broken UTF-8: lone continuations, overlong forms, surrogates, cut sequences, bytes over F4. */
  badUtf8(): Uint8Array {
    const pieces = [
      [0x80],
      [0xbf],
      [0xc0, 0x80],
      [0xc1, 0xbf],
      [0xe0, 0x80, 0x80],
      [0xed, 0xa0, 0x80],
      [0xf0, 0x80, 0x80, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xf5],
      [0xff],
      [0xfe],
      [0xe2, 0x82],
      [0xf0, 0x9f, 0x98],
      [0xc3],
    ];
    const out: number[] = [];
    const n = 1 + this.int(200);
    for (let i = 0; i < n; i++) {
      out.push(...this.pick(pieces));
      if (this.int(3) === 0) out.push(0x41 + this.int(26));
    }
    return Uint8Array.from(out);
  }

  /** C0 and C1 controls, and requests a terminal answers. */
  controls(): string {
    const n = 1 + this.int(100);
    let s = "";
    for (let i = 0; i < n; i++) {
      const k = this.int(4);
      if (k === 0) s += String.fromCharCode(this.int(32));
      else if (k === 1) s += String.fromCharCode(0x80 + this.int(32));
      else if (k === 2) {
        s += this.pick(["\x1b[c", "\x1b[>c", "\x1b[5n", "\x1b[6n", "\x1b[0c"]);
      } else s += this.pick(["\x1bc", "\x1b#8", "\x1b[!p", "\x1b7", "\x1b8"]);
    }
    return s;
  }

  /** Valid terminal output from harness/terminal_soup.ts (a seeded case). */
  valid(): string {
    return soupCase(this.#seed * 7919 + this.int(1_000_000)).tokens.join("");
  }

  /** One hostile piece, as bytes. */
  piece(): Uint8Array {
    switch (this.int(11)) {
      case 0:
        return this.bytes(1 + this.int(this.int(4) === 0 ? 20000 : 300));
      case 1:
        return this.badUtf8();
      default: {
        const k = this.int(9);
        const s = k === 0
          ? this.csi()
          : k === 1
          ? this.counts()
          : k === 2
          ? this.nesting()
          : k === 3
          ? this.unterminated()
          : k === 4
          ? this.hugeTitle()
          : k === 5
          ? this.controls()
          : k === 6
          ? this.csi() + this.counts()
          : this.valid();
        return encoder.encode(s);
      }
    }
  }
}

/**
 * Hostile terminal output for `seed`, about `maxBytes` long at most (a piece
 * that would overshoot is cut): pieces concatenated as bytes.
 */
export function hostileSoup(seed: number, maxBytes: number): Uint8Array {
  const g = new Hostile(seed);
  const parts: Uint8Array[] = [];
  let total = 0;
  const pieces = 1 + g.int(40);
  for (let i = 0; i < pieces && total < maxBytes; i++) {
    const p = g.piece();
    const take = p.subarray(0, Math.min(p.length, maxBytes - total));
    parts.push(take);
    total += take.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
