/**
 * Seeded generators of terminal output ("soup") for differential tests of
 * the emulator against stock mosh-server: text (ASCII, Latin-1, CJK,
 * emoji, combining marks), every SGR form (attributes, 16/256/true colour,
 * colon sub-parameters, resets), cursor moves, ED/EL/ECH, ICH/DCH/IL/DL,
 * SU/SD, scroll regions, RI/IND/NEL, tabs and tab stops, DECSC/DECRC,
 * origin, wrap and insert modes, other DEC modes, alternate-screen requests,
 * titles, BEL, DECALN, DECSTR and RIS.
 *
 * A case is a list of tokens, each a whole control function or a run of
 * text, so a shrinker can drop tokens and still have a valid stream. Nothing
 * generated makes a terminal answer the host (no DA, DSR) and no OSC 52 is
 * generated (the differential test uses the clipboard as its sentinel).
 * @module
 */

import { mulberry32 } from "./prng.ts";

/** One generated case: a terminal size and the tokens written to it. */
export interface SoupCase {
  seed: number;
  width: number;
  height: number;
  tokens: string[];
}

/** Terminal sizes the cases cycle through (several widths, tiny to wide). */
export const SOUP_SIZES: ReadonlyArray<readonly [number, number]> = [
  [80, 24],
  [132, 43],
  [20, 6],
  [9, 4],
  [40, 12],
];

/** The size of seed `seed`'s case. */
export function soupSize(seed: number): readonly [number, number] {
  return SOUP_SIZES[seed % SOUP_SIZES.length];
}

const WIDE = [..."ス한국字中文漢ト어あ界ﾊ가タ"];
const EMOJI = ["👍", "🎉", "😀", "⌚"];
const COMBINING = ["\u0301", "\u0308", "\u0323", "\u20dd", "\u0300"];
const LATIN1 = [..."éüßñ°±¼Æ×÷"];
const ASCII =
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:-_=+*#@!?/|";
const SGR_SIMPLE = [
  0,
  1,
  2,
  3,
  4,
  5,
  7,
  8,
  21,
  22,
  23,
  24,
  25,
  27,
  28,
  39,
  49,
];

/** A generator of one case's tokens. */
class Soup {
  #r: () => number;
  readonly width: number;
  readonly height: number;

  constructor(seed: number, width: number, height: number) {
    this.#r = mulberry32(seed * 2654435761 + 12345);
    this.width = width;
    this.height = height;
  }

  int(n: number): number {
    return Math.floor(this.#r() * n);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }

  chance(p: number): boolean {
    return this.#r() < p;
  }

  /** A parameter: usually small or near a screen dimension, sometimes missing or 0. */
  param(dim: number): string {
    const k = this.int(10);
    if (k === 0) return "";
    if (k === 1) return "0";
    if (k <= 5) return String(1 + this.int(5));
    if (k <= 8) return String(1 + this.int(dim + 2));
    return String(dim + this.int(20));
  }

  text(): string {
    const n = 1 + this.int(12);
    let s = "";
    for (let i = 0; i < n; i++) {
      const k = this.int(100);
      if (k < 55) s += ASCII[this.int(ASCII.length)];
      else if (k < 80) s += this.pick(WIDE);
      else if (k < 85) s += this.pick(EMOJI);
      else if (k < 93) s += this.pick(COMBINING);
      else s += this.pick(LATIN1);
    }
    return s;
  }

  color(base: number): string {
    const k = this.int(6);
    if (k === 0) return String(base + this.int(8));
    if (k === 1) return String(base + 60 + this.int(8));
    if (k === 2) return `${base + 8};5;${this.int(256)}`;
    if (k === 3) {
      return `${base + 8};2;${this.int(256)};${this.int(256)};${this.int(256)}`;
    }
    if (k === 4) return `${base + 8}:5:${this.int(256)}`;
    return `${base + 8}:2::${this.int(256)}:${this.int(256)}:${this.int(256)}`;
  }

  sgr(): string {
    const n = this.int(4);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) {
      const k = this.int(10);
      if (k < 4) parts.push(String(this.pick(SGR_SIMPLE)));
      else if (k < 7) parts.push(this.color(30));
      else parts.push(this.color(40));
    }
    return `\x1b[${parts.join(";")}m`;
  }

  move(): string {
    const w = this.width, h = this.height;
    switch (this.int(12)) {
      case 0:
        return `\x1b[${this.param(h)}A`;
      case 1:
        return `\x1b[${this.param(h)}B`;
      case 2:
        return `\x1b[${this.param(w)}C`;
      case 3:
        return `\x1b[${this.param(w)}D`;
      case 4:
      case 5:
        return `\x1b[${this.param(h)};${this.param(w)}H`;
      case 6:
        return `\x1b[${this.param(h)};${this.param(w)}f`;
      case 7:
        return `\x1b[${this.param(w)}G`;
      case 8:
        return `\x1b[${this.param(w)}\``;
      case 9:
        return `\x1b[${this.param(h)}d`;
      case 10:
        return this.pick(["\r", "\b", "\n", "\x0b", "\x0c"]);
      default:
        return `\x1b[${this.param(h)}${this.pick(["E", "F"])}`;
    }
  }

  erase(): string {
    switch (this.int(4)) {
      case 0:
        return `\x1b[${this.pick(["", "0", "1", "2", "3"])}J`;
      case 1:
        return `\x1b[${this.pick(["", "0", "1", "2"])}K`;
      default:
        return `\x1b[${this.param(this.width)}X`;
    }
  }

  edit(): string {
    const f = this.pick(["@", "P", "L", "M", "S", "T"]);
    return `\x1b[${
      this.param(f === "@" || f === "P" ? this.width : this.height)
    }${f}`;
  }

  region(): string {
    const h = this.height;
    switch (this.int(4)) {
      case 0:
        return "\x1b[r";
      case 1: {
        const top = 1 + this.int(h);
        return `\x1b[${top};${top + 1 + this.int(h - top + 1)}r`;
      }
      default:
        return `\x1b[${this.param(h)};${this.param(h)}r`;
    }
  }

  lines(): string {
    return this.pick(["\x1bM", "\x1bD", "\x1bE", "\n", "\r\n"]);
  }

  tabs(): string {
    switch (this.int(6)) {
      case 0:
      case 1:
        return "\t";
      case 2:
        return "\x1bH";
      case 3:
        return `\x1b[${this.pick(["", "0", "3"])}g`;
      case 4:
        return `\x1b[${this.param(4)}I`;
      default:
        return `\x1b[${this.param(4)}Z`;
    }
  }

  mode(): string {
    const k = this.int(10);
    const set = this.chance(0.5) ? "h" : "l";
    if (k < 3) return `\x1b[?${this.pick(["6", "7", "7", "6"])}${set}`;
    if (k < 5) return `\x1b[4${set}`;
    if (k < 7) {
      return `\x1b[?${
        this.pick([
          "1",
          "5",
          "25",
          "1000",
          "1002",
          "1003",
          "9",
          "1004",
          "1005",
          "1006",
          "1015",
          "1007",
          "2004",
          "3",
        ])
      }${set}`;
    }
    return `\x1b[?${this.pick(["47", "1047", "1048", "1049"])}${set}`;
  }

  misc(): string {
    switch (this.int(12)) {
      case 0:
      case 1:
        return "\x1b7";
      case 2:
      case 3:
        return "\x1b8";
      case 4:
        return "\x07";
      case 5: {
        const t = this.text().replace(/[\x00-\x1f]/g, "");
        const end = this.chance(0.5) ? "\x07" : "\x1b\\";
        return `\x1b]${this.pick(["0", "1", "2"])};${t}${end}`;
      }
      case 6:
        return "\x1b#8";
      case 7:
        return "\x1b[!p";
      case 8:
        return this.chance(0.2) ? "\x1bc" : "\x1b[s";
      case 9:
        return "\x1b[u";
      case 10:
        return this.pick(["\x1b(0", "\x1b(B", "\x0e", "\x0f"]);
      default:
        return `\x1b[${this.param(this.width)}b`;
    }
  }

  token(): string {
    const k = this.int(100);
    if (k < 30) return this.text();
    if (k < 42) return this.sgr();
    if (k < 60) return this.move();
    if (k < 69) return this.erase();
    if (k < 77) return this.edit();
    if (k < 81) return this.region();
    if (k < 85) return this.lines();
    if (k < 89) return this.tabs();
    if (k < 95) return this.mode();
    return this.misc();
  }
}

/** Most tokens in a case. */
const MAX_TOKENS = 120;

/** The case of `seed` at `width` x `height` (default: the seed's size from SOUP_SIZES). */
export function soupCase(
  seed: number,
  size: readonly [number, number] = soupSize(seed),
): SoupCase {
  const [width, height] = size;
  const g = new Soup(seed, width, height);
  const n = 10 + g.int(MAX_TOKENS - 10);
  const tokens: string[] = [];
  for (let i = 0; i < n; i++) tokens.push(g.token());
  return { seed, width, height, tokens };
}

/** A case's tokens as one UTF-8 byte string. */
export function soupBytes(tokens: readonly string[]): Uint8Array {
  return new TextEncoder().encode(tokens.join(""));
}
